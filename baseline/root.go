package baseline

import (
	"errors"
	"os"
	"path"
	"path/filepath"
)

// NormRoot returns the canonical form of a root option: "/" for the host, else the cleaned
// directory that is treated as /.
func NormRoot(root string) string {
	if root == "" {
		return "/"
	}
	return path.Clean(root)
}

// AbsRoot checks a root option and returns it absolute: it must name a directory.
func AbsRoot(root string) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return "", errors.New("not a directory")
	}
	return abs, nil
}
