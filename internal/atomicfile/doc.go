// Package atomicfile writes files so that a power cut leaves either the old
// content or the new one, never a torn file: temp file in the same directory,
// fsync, rename, fsync the directory.
package atomicfile
