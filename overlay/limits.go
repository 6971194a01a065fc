package overlay

// MaxFileBytes is the largest overlay file Parse reads: 1 MiB. The largest
// content the service takes is 512 KiB of runtime keys and 50 KiB of
// certificates, so a real file is far smaller; a larger one is refused
// before it is parsed, at the line where it crosses the limit.
const MaxFileBytes = 1 << 20
