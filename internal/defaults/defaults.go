// Package defaults fills the settings a caller left unset: the one rule,
// shared by every Config and Options of the daemon and the emulator, that a
// zero or negative count or duration takes the package's default.
package defaults

// Number is what Positive applies to: counts and durations.
type Number interface {
	~int | ~int32 | ~int64 | ~float64
}

// Positive sets *v to d when *v is zero or negative.
func Positive[T Number](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Or returns v when it is positive and d otherwise.
func Or[T Number](v, d T) T {
	Positive(&v, d)
	return v
}
