//go:build ignore

// Package main is genpem (go run testdata/genpem.go). It writes the PEM files under testdata/pem that the good and bad
// overlays embed: self-signed CA certificates, RSA public keys in PKIX and
// PKCS #1 form, an ECDSA public key (a bad keyring entry), and one throwaway
// private key used only to check that private keys are rejected, and two
// certificates that draw warnings: a CA that expired in 2021 and a leaf
// (not a CA) certificate. The good and bad overlays embed these files'
// text, so a file that exists is never written again: to add one, add it
// here and run
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
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return
		}
		b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	// cert is a self-signed certificate valid from notBefore to notAfter.
	cert := func(cn string, pub, priv any, notBefore, notAfter time.Time, isCA bool) []byte {
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(time.Now().UnixNano()),
			Subject:               pkix.Name{CommonName: cn, Organization: []string{"ca-reconciler test"}},
			NotBefore:             notBefore,
			NotAfter:              notAfter,
			IsCA:                  isCA,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageDigitalSignature,
		}
		if isCA {
			tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
		if err != nil {
			log.Fatal(err)
		}
		return der
	}
	ca := func(cn string, pub, priv any) []byte {
		return cert(cn, pub, priv, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2045, 1, 1, 0, 0, 0, 0, time.UTC), true)
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
	write("expired-ca.crt", "CERTIFICATE", cert("Expired Test CA", &ecKey.PublicKey, ecKey,
		time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2021, 6, 30, 0, 0, 0, 0, time.UTC), true))
	write("leaf.crt", "CERTIFICATE", cert("service.example.com", &ecKey.PublicKey, ecKey,
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2045, 1, 1, 0, 0, 0, 0, time.UTC), false))

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
