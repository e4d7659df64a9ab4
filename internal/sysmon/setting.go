package sysmon

import (
	"fmt"
	"time"
)

// Default is sysmon's timer slack unless GOMPI_SYSMON_SLACK says otherwise.
const Default = 2 * time.Millisecond

// Env names the environment variable that overrides Default.
const Env = "GOMPI_SYSMON_SLACK"

// SettingError is a GOMPI_SYSMON_SLACK that is not a duration from 0 to 1s.
type SettingError struct{ Value string }

func (e *SettingError) Error() string {
	return fmt.Sprintf("%s=%q: want a duration from 0 to 1s, like 2ms", Env, e.Value)
}
