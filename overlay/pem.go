package overlay

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"regexp"
	"strings"
)

// privateKeyHeader finds a PEM private key of any kind (PKCS#8, PKCS#1, EC,
// encrypted, OpenSSH), even one too broken to decode.
var privateKeyHeader = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----`)

// checkCertificate applies the server's rules to one certificates.additional
// content: exactly one PEM CERTIFICATE block (text before it is allowed) that
// parses as X.509, and no private key. It returns the certificate, or why
// the content is not one.
func checkCertificate(content string) (*x509.Certificate, string) {
	block, msg := onePEMBlock(content)
	if msg != "" {
		return nil, msg
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Sprintf(`PEM block is %s, want "CERTIFICATE"`, quote(block.Type))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Sprintf("not a valid X.509 certificate: %v", err)
	}
	return cert, ""
}

// checkPublicKey applies the server's rules to one runtime_keyring content
// (chainctl docs, "Key validation rules"; apko's parsePublicKey): exactly one
// PEM "PUBLIC KEY" block holding a PKIX RSA key, with nothing but white space
// before or after it, and no private key.
func checkPublicKey(content string) string {
	block, msg := onePEMBlock(content)
	if msg != "" {
		return msg
	}
	if block.Type != "PUBLIC KEY" {
		return fmt.Sprintf(`PEM block is %s, want "PUBLIC KEY"`, quote(block.Type))
	}
	begin := strings.Index(content, "-----BEGIN")
	if strings.TrimSpace(content[:begin]) != "" {
		return "text before the PEM block; a runtime key is the PEM block alone"
	}
	// pem.Decode returns what follows the block; after a single block that
	// is only what trails its END line.
	_, rest := pem.Decode([]byte(content))
	if len(bytes.TrimSpace(rest)) > 0 {
		return "text after the PEM block; a runtime key is the PEM block alone"
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return "not a valid PKIX public key"
	}
	if _, ok := pub.(*rsa.PublicKey); !ok {
		return fmt.Sprintf("not an RSA public key (got %s)", keyType(pub))
	}
	return ""
}

// onePEMBlock returns the single PEM block of content, or why there is not
// exactly one. Private keys are refused first, whatever else is wrong.
func onePEMBlock(content string) (*pem.Block, string) {
	if strings.TrimSpace(content) == "" {
		return nil, "required"
	}
	if privateKeyHeader.MatchString(content) {
		return nil, "contains a private key; only public material is allowed"
	}
	var blocks []*pem.Block
	rest := []byte(content)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	switch {
	case len(blocks) > 1:
		return nil, fmt.Sprintf("has %d PEM blocks, want exactly one", len(blocks))
	case strings.Count(content, "-----BEGIN") > len(blocks):
		// A block that pem.Decode skipped: broken base64, a missing
		// END line, mismatched types.
		return nil, "malformed PEM block"
	case len(blocks) == 0:
		return nil, "no PEM block found"
	}
	return blocks[0], ""
}

func keyType(pub any) string {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return fmt.Sprintf("%T", pub)
	}
}
