package client

// Known reports whether id is a configured client. `tokex explain` names a
// client without its secret; nothing authenticates through Known.
func (r *Registry) Known(id string) bool {
	_, ok := r.byID[id]
	return ok
}
