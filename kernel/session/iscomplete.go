package session

import (
	"errors"
	"go/scanner"
	"go/token"
	"strings"
)

// IsComplete tells a console whether code is ready to run: "complete" when
// it parses (or is empty), "incomplete" when more lines could complete it
// (open brackets, strings or comments, an unfinished expression), and
// "invalid" when no continuation can (a closing bracket with no opener, an
// error before the end). indent is what the next line should start with:
// a tab per open bracket, as gofmt indents.
func IsComplete(code string) (status, indent string) {
	if strings.TrimSpace(code) == "" {
		return "complete", ""
	}
	var stack []token.Token
	unterminated := false
	fset := token.NewFileSet()
	file := fset.AddFile("", -1, len(code))
	var s scanner.Scanner
	s.Init(file, []byte(code), func(_ token.Position, msg string) {
		if strings.Contains(msg, "not terminated") {
			unterminated = true
		}
	}, 0)
	for {
		_, t, _ := s.Scan()
		if t == token.EOF {
			break
		}
		switch t {
		case token.LPAREN, token.LBRACK, token.LBRACE:
			stack = append(stack, t)
		case token.RPAREN, token.RBRACK, token.RBRACE:
			if len(stack) == 0 || closer(stack[len(stack)-1]) != t {
				return "invalid", ""
			}
			stack = stack[:len(stack)-1]
		}
	}
	if unterminated {
		return "incomplete", ""
	}
	if len(stack) > 0 {
		return "incomplete", strings.Repeat("\t", len(stack))
	}
	_, err := splitCell(code)
	if err == nil {
		return "complete", ""
	}
	var se *syntaxError
	if errors.As(err, &se) && len(se.list) > 0 {
		endLine, endCol := lineCol(code, len(code))
		p := se.list[0].Pos
		if p.Line > endLine || (p.Line == endLine && p.Column >= endCol) {
			return "incomplete", ""
		}
	}
	return "invalid", ""
}

// closer returns the bracket that closes an opening one.
func closer(open token.Token) token.Token {
	switch open {
	case token.LPAREN:
		return token.RPAREN
	case token.LBRACK:
		return token.RBRACK
	}
	return token.RBRACE
}
