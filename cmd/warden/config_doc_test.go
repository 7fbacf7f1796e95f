package main

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestExampleConfigListsAllowedValues: for every key with a closed set
// of values, the comment beside it in deploy/warden.yaml names each of
// them, so that a value added to its type's list is documented too.
func TestExampleConfigListsAllowedValues(t *testing.T) {
	f, err := os.Open("../../deploy/warden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	comments := map[string]string{} // dotted key: its line's comment
	section := ""
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		body, comment, _ := strings.Cut(line, "#")
		name, _, ok := strings.Cut(strings.TrimSpace(body), ":")
		if !ok || name == "" {
			continue
		}
		if !strings.HasPrefix(line, " ") {
			section = name
			comments[name] = comment
			continue
		}
		comments[section+"."+name] = comment
	}
	for _, k := range configKeys() {
		for _, v := range k.values {
			if !regexp.MustCompile(`\b` + regexp.QuoteMeta(v) + `\b`).MatchString(comments[k.key]) {
				t.Errorf("deploy/warden.yaml: the comment on %s (%q) does not name %q", k.key, comments[k.key], v)
			}
		}
	}
}
