package stats

// Ratio is a / b, or 0 when b is 0 (a peer that measured nothing).
func Ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
