//go:build !pkcs11

package keys

import (
	"crypto"
	"encoding/json"
	"errors"
)

// openPKCS11 without the pkcs11 build tag: HSM keys need a cgo build.
func openPKCS11(json.RawMessage, crypto.PublicKey) (crypto.Signer, error) {
	return nil, errors.New("this tokex was built without PKCS#11 support; build it with -tags pkcs11 (cgo) to sign with an HSM key")
}
