package expect

// Login is who can log in to an installed node: a user and the SSH public keys of its
// authorized_keys. The inventory's login: (inventory.Login is this type), sent to the
// ramdisk agent inside Deploy, and written onto the installed system by the deploy.
type Login struct {
	User           string   `yaml:"user" json:"user"`
	AuthorizedKeys []string `yaml:"authorized_keys" json:"authorized_keys"`
}
