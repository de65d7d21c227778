package main

import "github.com/tripline/tripline/internal/cliargs"

// arities declares the positional arguments of every command that runs an action; prepare
// enforces them before the action runs, so a stray word is a usage error (16), never ignored.
var arities = map[string]cliargs.Arity{
	"scan":             {Hint: "use --root to scan another tree"},
	"watch":            {Hint: "use --root to watch another tree"},
	"baseline create":  {Hint: "use --root to record another tree"},
	"baseline update":  {Hint: "to accept some paths use 'tripline baseline accept PATH...'"},
	"baseline accept":  {Min: 1, Max: -1, What: "PATH", Hint: "or use 'tripline baseline update' to accept everything"},
	"baseline show":    {Max: -1, What: "PATH"},
	"baseline export":  {Hint: "use -o FILE"},
	"baseline keygen":  {Hint: "use --out PREFIX"},
	"baseline verify":  {Min: 1, Max: 1, What: "FILE"},
	"baseline diff":    {Min: 2, Max: 2, What: "exports (A.json B.json)"},
	"history":          {Max: 1, What: "PATH"},
	"restore":          {Min: 1, Max: 1, What: "PATH"},
	"show":             {Min: 1, Max: 1, What: "PATH@N"},
	"policy show":      {Hint: "use --policy FILE to show another policy"},
	"policy check":     {Min: 1, Max: 1, What: "FILE"},
	"policy locations": {Hint: "use --root DIR to resolve them under another tree"},
	"version":          {},
	"completion":       {Min: 1, Max: 1, What: "SHELL (bash, zsh or fish)"},
	"man":              {},
}
