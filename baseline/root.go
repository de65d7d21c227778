package baseline

import "path"

// NormRoot returns the canonical form of a root option: "/" for the host, else the cleaned
// directory that is treated as /.
func NormRoot(root string) string {
	if root == "" {
		return "/"
	}
	return path.Clean(root)
}
