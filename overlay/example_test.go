package overlay_test

import (
	"errors"
	"fmt"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

func ExampleParse() {
	file := []byte(`contents:
  packages: [curl, jq]
environment:
  PORT: 3000
  CHAINGUARD_FIPS: "1"
entrypoint:
  command: /bin/sh
`)
	o, err := overlay.Parse("ca-images-iac/nginx.yaml", file)
	var problems overlay.Problems
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Println(p)
		}
	}
	fmt.Println(o.Packages, o.Environment["PORT"])
	// Output:
	// ca-images-iac/nginx.yaml:5:3: environment.CHAINGUARD_FIPS: key prefix "CHAINGUARD_" is reserved
	// ca-images-iac/nginx.yaml:6:1: entrypoint: not supported by Custom Assembly
	// [curl jq] 3000
}

func ExampleDiff() {
	live := overlay.Overlay{
		Packages:    []string{"jq", "bash"},
		Environment: map[string]string{"LOG_LEVEL": "info"},
	}
	desired := overlay.Overlay{
		Packages:     []string{"bash", "curl"},
		Environment:  map[string]string{"LOG_LEVEL": "debug"},
		Accounts:     overlay.Accounts{RunAs: "appuser", Users: []overlay.User{{UserName: "appuser", UID: 65532}}},
		Certificates: []overlay.NamedContent{{Name: "internal-ca", Content: "-----BEGIN CERTIFICATE-----\n...\n"}},
	}
	for _, c := range overlay.Diff(live, desired) {
		fmt.Println(c)
	}
	// Output:
	// + package curl
	// - package jq
	// ~ environment LOG_LEVEL: info -> debug
	// + accounts run-as: appuser
	// + user appuser
	// + certificate internal-ca sha256:b2893de02865…
}

func ExampleEqual() {
	a := overlay.Overlay{Packages: []string{"jq", "curl"}}
	b := overlay.Overlay{Packages: []string{"curl", "jq", "curl"}, Environment: map[string]string{}}
	fmt.Println(overlay.Equal(a, b), overlay.Equal(overlay.Overlay{}, overlay.Overlay{Accounts: overlay.Accounts{Users: []overlay.User{}}}))
	// Output: true true
}

func ExampleMarshal() {
	out, err := overlay.Marshal(overlay.Overlay{
		Packages:    []string{"jq", "curl"},
		Environment: map[string]string{"PORT": "3000"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Print(string(out))
	// Output:
	// contents:
	//   packages:
	//     - curl
	//     - jq
	// environment:
	//   PORT: "3000"
}
