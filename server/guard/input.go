package guard

import (
	"errors"
	"fmt"
	"strings"
)

// InjectionMode is what the guard does when Detect matches.
type InjectionMode string

// The injection modes.
const (
	InjectionFlag  InjectionMode = "flag"  // record the event, pass the text (the default)
	InjectionBlock InjectionMode = "block" // refuse the request
	InjectionOff   InjectionMode = "off"   // do not run the detector
)

// ParseInjectionMode reads a configured mode; the empty string is the
// default, flag.
func ParseInjectionMode(s string) (InjectionMode, error) {
	switch m := InjectionMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return InjectionFlag, nil
	case InjectionFlag, InjectionBlock, InjectionOff:
		return m, nil
	}
	return "", fmt.Errorf("guard: injection mode %q: want flag, block or off", s)
}

// ErrInjection is returned (wrapped, with where the text was) when the
// injection mode is block and the detector matched.
var ErrInjection = errors.New("text matches a known prompt-injection phrasing")

// CheckInput runs both input checks on one text: the invisible-text
// filter, then the injection detector on what the model will see and,
// separately, on whatever was smuggled in tag characters (reported with
// where + " (tags)"). It returns the text to pass on, the events, and an
// error wrapping ErrInvisibleText or ErrInjection when the request must
// be refused. The same call serves user messages and retrieved chunks:
// where says which ("messages[2]", "file-abc#4").
func CheckInput(inv InvisibleMode, inj InjectionMode, where, text string) (string, []Event, error) {
	out, smuggled, events, err := FilterInvisible(inv, where, text)
	if err != nil || inj == InjectionOff {
		return out, events, err
	}
	action := ActionFlag
	if inj == InjectionBlock {
		action = ActionBlock
	}
	var blocked []string
	for _, t := range []struct{ where, text string }{{where, out}, {where + " (tags)", smuggled}} {
		if t.text == "" {
			continue
		}
		if f := Detect(t.text); f.Matched() {
			events = append(events, f.Event(t.where, action))
			blocked = append(blocked, t.where)
		}
	}
	if action == ActionBlock && len(blocked) > 0 {
		return out, events, fmt.Errorf("guard: %s: %w", strings.Join(blocked, ", "), ErrInjection)
	}
	return out, events, nil
}
