package session

import (
	"slices"
	"strings"
	"testing"
)

func TestComplete(t *testing.T) {
	ts := newTestSession(t, Options{})
	ts.run(t, "myVariable := 41\ntype Point struct{ X, Y int }\npt := &Point{1, 2}\nvar sb strings.Builder")
	cases := []struct {
		name       string
		code       string
		cursor     int // -1: end of code, in code points
		want       []string
		notWant    []string
		start, end int
	}{
		{"package member", "fmt.Pri", -1, []string{"Print", "Printf", "Println"}, []string{"Sprint"}, 4, 7},
		{"member of unimported package", "strings.ToU", -1, []string{"ToUpper"}, nil, 8, 11},
		{"package name", "str", -1, []string{"strings", "strconv"}, nil, 0, 3},
		{"keyword", "x := 1\nfun", -1, []string{"func"}, nil, 7, 10},
		{"builtin", "le", -1, []string{"len"}, nil, 0, 2},
		{"global of earlier cell", "myV", -1, []string{"myVariable"}, nil, 0, 3},
		{"name of this cell", "otherName := 1\nfmt.Println(othe", -1, []string{"otherName"}, nil, 27, 31},
		{"hidden names stay hidden", "__gom", -1, nil, []string{"__gompiResult", "__gompi"}, 0, 5},
		{"unicode before cursor", "s := \"é世界\"\nfmt.Spr", -1, []string{"Sprint", "Sprintf"}, nil, 15, 18},
		{"cursor in the middle", "s := \"世界\"; fmt.Pr + 1", 17, []string{"Print"}, nil, 15, 17},
		{"fields of a global", "pt.", -1, []string{"X", "Y"}, nil, 3, 3},
		{"methods of a compiled global", "sb.Wr", -1, []string{"WriteString"}, nil, 3, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cursor := tc.cursor
			if cursor < 0 {
				cursor = len([]rune(tc.code))
			}
			c := ts.Complete(tc.code, cursor)
			for _, w := range tc.want {
				if !slices.Contains(c.Matches, w) {
					t.Errorf("matches %v lack %q", c.Matches, w)
				}
			}
			for _, w := range tc.notWant {
				if slices.Contains(c.Matches, w) {
					t.Errorf("matches %v contain %q", c.Matches, w)
				}
			}
			if c.Start != tc.start || c.End != tc.end {
				t.Errorf("start,end = %d,%d, want %d,%d", c.Start, c.End, tc.start, tc.end)
			}
		})
	}
}

func TestCompleteExports(t *testing.T) {
	ts := newTestSession(t, fakeOptions())
	c := ts.Complete("fake.R", 6)
	if !slices.Contains(c.Matches, "Rank") {
		t.Errorf("matches %v", c.Matches)
	}
}

func TestInspect(t *testing.T) {
	ts := newTestSession(t, Options{})
	ts.run(t, "x := 42\ntype P struct{ Name string }\np := P{\"n\"}\nfunc f() int { return 1 }")
	cases := []struct {
		code   string
		cursor int
		want   string // "" = not found
	}{
		{"fmt.Println(1)", 6, "func Println(a ...any) (n int, err error)\n    Println formats"},
		{"fmt.Println", 11, "func Println(a ...any)"},
		{"x + 1", 0, "x int = 42"},
		{"y := x", 6, "x int = 42"},
		{"math.Pi", 6, "const Pi = "},
		{"os.Args", 5, "var Args []string"},
		{"fmt.Stringer", 5, "type Stringer interface {\n\tString() string\n}"}, // signature first (issue 11); the package line last
		{"strings", 3, `package strings // import "strings"`},
		{"p.Name", 4, `field p.Name string = "n"`},
		{"é := 世界 + f", 11, "func f() int\n(declared in an earlier cell)"},
		{"nothingHere", 3, ""},
		{"1 + 2", 1, ""},
	}
	for _, tc := range cases {
		data, found := ts.Inspect(tc.code, tc.cursor, 0)
		if tc.want == "" {
			if found {
				t.Errorf("Inspect(%q, %d) = %v, want not found", tc.code, tc.cursor, data)
			}
			continue
		}
		text, _ := data["text/plain"].(string)
		if !found || !strings.HasPrefix(text, tc.want) {
			t.Errorf("Inspect(%q, %d) = %q (found %v), want prefix %q", tc.code, tc.cursor, text, found, tc.want)
		}
	}
}

func TestIsComplete(t *testing.T) {
	cases := []struct{ code, status, indent string }{
		{"", "complete", ""},
		{"x := 1", "complete", ""},
		{"fmt.Println(1)\n", "complete", ""},
		{"func f() {", "incomplete", "\t"},
		{"func f() {\n\tif true {", "incomplete", "\t\t"},
		{"fmt.Println(", "incomplete", "\t"},
		{"s := `raw", "incomplete", ""},
		{"/* comment", "incomplete", ""},
		{"x := 1 +", "incomplete", ""},
		{"}}", "invalid", ""},
		{"x := (1]", "invalid", ""},
		{"x := 1 +* / 2\ny := 3", "invalid", ""},
		{"import \"fmt\"\ntype T struct{}\nT{}", "complete", ""},
	}
	for _, tc := range cases {
		status, indent := IsComplete(tc.code)
		if status != tc.status || indent != tc.indent {
			t.Errorf("IsComplete(%q) = %q, %q; want %q, %q", tc.code, status, indent, tc.status, tc.indent)
		}
	}
}
