package jupyter

import (
	"os/exec"
	"strings"
)

// systemPython is Debian's interpreter, which has python3-jupyter-client; the
// python3 first on PATH may be a pyenv build without it.
const systemPython = "/usr/bin/python3"

func pythonOutput(args ...string) (string, error) {
	out, err := exec.Command(args[0], args[1:]...).Output()
	return strings.TrimSpace(string(out)), err
}
