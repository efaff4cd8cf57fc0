//go:build pkcs11

package keys

import (
	"crypto"
	"encoding/json"
	"os"

	"github.com/tokex/tokex/internal/keys/pkcs11"
)

// openPKCS11 opens the HSM key a keys file entry names in its tokex.pkcs11 member.
func openPKCS11(raw json.RawMessage, pub crypto.PublicKey) (crypto.Signer, error) {
	var c pkcs11.Config
	if err := strictJSON(raw, &c); err != nil {
		return nil, err
	}
	return pkcs11.Open(c, pub, os.LookupEnv)
}
