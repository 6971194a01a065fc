//go:build ignore

// Package main is genpem (go run testdata/genpem.go). It writes the PEM files under testdata/pem that the good and bad
// overlays embed: self-signed CA certificates, RSA public keys in PKIX and
// PKCS #1 form, an ECDSA public key (a bad keyring entry), and one throwaway
// private key used only to check that private keys are rejected. It was run
// once; the files are committed. Run again with:
//
//	go run testdata/genpem.go
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

func main() {
	dir := filepath.Join("testdata", "pem")
	write := func(name, typ string, der []byte) {
		b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	ca := func(cn string, pub, priv any) []byte {
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(time.Now().UnixNano()),
			Subject:               pkix.Name{CommonName: cn, Organization: []string{"ca-reconciler test"}},
			NotBefore:             time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			NotAfter:              time.Date(2045, 1, 1, 0, 0, 0, 0, time.UTC),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
		if err != nil {
			log.Fatal(err)
		}
		return der
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	write("internal-ca.crt", "CERTIFICATE", ca("Internal Test CA", &rsaKey.PublicKey, rsaKey))
	write("partner-ca.crt", "CERTIFICATE", ca("Partner Test CA", &ecKey.PublicKey, ecKey))

	pkix, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		log.Fatal(err)
	}
	write("apk-pkix.rsa.pub", "PUBLIC KEY", pkix)
	write("apk-pkcs1.rsa.pub", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey))
	ecPub, err := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	if err != nil {
		log.Fatal(err)
	}
	write("ec.pub", "PUBLIC KEY", ecPub)

	// A separate, throwaway key that signs nothing above: it exists only
	// so that the bad inputs can show a private key being rejected.
	junk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(junk)
	if err != nil {
		log.Fatal(err)
	}
	write("THROWAWAY-TEST-ONLY-private-key.pem", "PRIVATE KEY", der)
}
