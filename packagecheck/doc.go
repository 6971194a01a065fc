// Package packagecheck says, before anything is written, which overlays
// would fail to build against their organization's own package index, and
// why, with apko's resolver: the builder Custom Assembly runs.
//
// For the repos about to be written, Checker.Check:
//
//   - reads the organization's index with chainguard.platform.apk.APK/ListAPKs
//     (every page, page size 200, for x86_64 and aarch64) at most once per
//     Config.Interval (--package-index-interval, default 10m), and again at
//     once when a file names a package the index it has lacks (once per
//     package and index, so a package that really is missing costs one
//     read, not one per cycle). A cycle with nothing to write calls nothing.
//   - reads each repo's successful builds of the last 24 hours (one
//     ListBuildReports per repo to be written) and takes the base image's
//     packages and architectures from their apko configuration (JSON): the
//     report's config, the packages the build requested, or its
//     locked_config when it has no config; the packages by name, since a
//     rebuild resolves current versions, without the live overlay's own
//     packages. Only the newest successful build counts, with the builds
//     started within two seconds of it (one per active tag, by the same
//     write or rebuild): older builds are of an older overlay or source
//     image. A repo built differently per tag is checked against each
//     distinct base, up to four.
//   - resolves base plus file for every architecture the repo builds (both
//     unless its builds say otherwise) with apk.NewPkgResolver and
//     GetPackagesWithDependencies, the other architectures disqualifying
//     what they lack, exactly as apko's multi-architecture build does.
//
// A refusal is an overlay problem at the file's position of the package,
// naming package, organization and architecture:
//
//	ca-images-iac/python.yaml:4:7: contents.packages[1]: "mongo-9.0" is not available to acme.com on x86_64 and aarch64 (did you mean mongo-8.0?)
//	ca-images-iac/api.yaml:5:7: contents.packages[2]: "broken" cannot be installed on x86_64 and aarch64: its dependency "libnope" is not available to acme.com (needed by broken-2.0-r0)
//	ca-images-iac/api.yaml:3:7: contents.packages[0]: "openssl=3.5.0-r0": no version of openssl on x86_64 and aarch64 satisfies it (available: 3.4.0-r0, 3.3.2-r0)
//	ca-images-iac/py.yaml:4:7: contents.packages[1]: "python-3.12" cannot be installed on x86_64 and aarch64: python-3.12-3.12.8-r0 conflicts with python-3.13-3.13.1-r0 (both provide python3)
//	ca-images-iac/skew.yaml:3:7: contents.packages[0]: "skew": no version of skew is built for both x86_64 and aarch64 (x86_64 has 1.1-r0; aarch64 has 1.0-r0)
//
// Each package is first checked alone (its name on every architecture, its
// version constraint); then the file's packages are resolved with the base,
// and when that fails they are added one at a time, in the file's order, so
// that each package whose addition breaks the set is named. What the index
// cannot show is not checked: two packages that install the same file
// conflict only when the build unpacks them.
//
// The check degrades, never blocks: when the API answers PermissionDenied
// or Unimplemented to ListAPKs (the identity lacks apk.list) the result is
// StatusSkipped naming the capability, logged once, and nothing is asked
// again for an interval; when the index cannot be read the last one is
// used, or the result is StatusUnavailable. Neither refuses anything.
//
// apko keeps resolvers in package-level caches keyed by index objects and
// frees one only when its index cache serves a newer generation of the same
// index URL, so the index is written as APKINDEX files in a private folder
// and loaded with apk.GetRepositoryIndexes; see indexFiles.
package packagecheck
