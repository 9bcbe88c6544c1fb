// Package names holds the one rule for the opaque identifiers tqrouter takes
// from its callers (tenant IDs, workflow and activity type names): they are
// used byte for byte, so " acme" and "acme" would be two names; anything
// that is likely a mistake is refused rather than used.
package names

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Check returns nil if s is 1 to maxLen bytes of valid UTF-8 with no
// control character and no white space at either end, and otherwise an
// error saying why, for the caller to wrap with its own sentinel. It
// allocates only on refusal.
func Check(s string, maxLen int) error {
	if PrintableName(s, maxLen) {
		return nil // the shape of nearly every real name: one pass, no decoding
	}
	switch f, r := fault(s, maxLen); f {
	case empty:
		return errors.New("empty")
	case tooLong:
		return fmt.Errorf("%d bytes, more than %d", len(s), maxLen)
	case notUTF8:
		return errors.New("not valid UTF-8")
	case surroundingSpace:
		return fmt.Errorf("surrounding white space in %q", s)
	case control:
		return fmt.Errorf("control character %U", r)
	}
	return nil
}

// Valid reports whether [Check] accepts s, without building the reason:
// for the printable-ASCII names nearly every caller has, one pass over the
// bytes ([PrintableName]), and nothing allocated for any s.
func Valid(s string, maxLen int) bool {
	if PrintableName(s, maxLen) {
		return true
	}
	f, _ := fault(s, maxLen)
	return f == none
}

// The reasons [Check] refuses a name, as [fault] finds them.
const (
	none             = iota
	empty            // no bytes
	tooLong          // more than maxLen bytes
	notUTF8          // not valid UTF-8
	surroundingSpace // white space first or last
	control          // a control character (the rune fault returns)
)

// fault is the rule of [Check] written out rune by rune: the first reason
// s is not a name, or none, and the offending rune for control. It
// allocates nothing, so that [Valid] can ask it.
func fault(s string, maxLen int) (int, rune) {
	switch {
	case s == "":
		return empty, 0
	case len(s) > maxLen:
		return tooLong, 0
	case !utf8.ValidString(s):
		return notUTF8, 0
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return surroundingSpace, 0
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return control, r
		}
	}
	return none, 0
}

// Word-at-a-time constants: a byte of ones, and the high bit of every byte.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// PrintableName reports whether s is a name of the shape nearly every real
// name has: 1 to maxLen bytes of printable ASCII, 0x20 (space) to 0x7e
// ('~'), with no space at either end. [Check] accepts every such name.
// PrintableName reads eight bytes at a time and calls nothing: a caller on
// a hot path asks it first, and asks [Valid] only when it says no.
func PrintableName(s string, maxLen int) bool {
	if len(s) == 0 || len(s) > maxLen || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			if s[i]-0x20 > 0x7e-0x20 {
				return false
			}
		}
		return true
	}
	bad := outside(load64(s[len(s)-8:])) // the last eight, overlapping what the loop reads
	for len(s) >= 16 {
		bad |= outside(load64(s)) | outside(load64(s[8:]))
		s = s[16:]
	}
	if len(s) >= 8 {
		bad |= outside(load64(s))
	}
	return bad&highs == 0
}

// outside sets the high bit of some byte of the result if any byte of x is
// below 0x20 or above 0x7e (the bit need not be that byte's: only "any"
// is exact). Above 0x7e: x + 1 sets the high bit of that byte, or x has
// it. Below 0x20, with no high bit in x: x - 0x20 borrows into the high
// bit of the lowest such byte (the bytes below it subtract without a
// borrow, as they are at least 0x20 or else the lowest).
func outside(x uint64) uint64 {
	return (x - ones*0x20) | (x + ones) | x
}

// load64 reads the first eight bytes of s as a little-endian word; the
// compiler makes it one load. Which byte is which does not matter to
// [outside].
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
