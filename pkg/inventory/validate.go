package inventory

// validate adds every semantic defect of a built inventory to errs.
func (inv *Inventory) validate(errs *Errors) {
	// TODO(helper-inventory): the full rule set of the foundation issue.
}
