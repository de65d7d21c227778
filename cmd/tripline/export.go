package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/export"
	"github.com/tripline/tripline/report"
)

// exportCommands are the auditor-facing subcommands of `tripline baseline`.
func exportCommands(e *env) []*cli.Command {
	return []*cli.Command{
		{
			Name:      "export",
			Usage:     "write the approved baseline as evidence for auditors (json, csv or html), optionally signed",
			UsageText: "tripline baseline export [--format json|csv|html] [-o FILE] [--sign KEY]",
			Description: `Writes every approved path with its location, type, mode (octal and symbolic), owner and
group, size, sha256, birth/modify/change times, symlink target and who approved it when, under a
header naming the host, machine id, tripline version, policy digest and the counts per location.

  json  the canonical, versioned document (format "tripline-baseline", version 1): the evidence
  csv   one header row, RFC 4180 quoting: opens cleanly in a spreadsheet
  html  one self-contained page for people: summary, locations, changes since the previous
        approval, files by location with executables in executed locations marked

--sign KEY writes FILE.sig, an Ed25519 signature over FILE's exact bytes, which
'tripline baseline verify' and stock OpenSSL 3 both check:
  openssl pkeyutl -verify -pubin -inkey PUB.pem -rawin -in FILE -sigfile FILE.sig`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "format", Value: "json", Usage: "`FORMAT`: json, csv or html"},
				&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "-", Usage: "write to `FILE` (- for stdout)"},
				&cli.StringFlag{Name: "sign", Usage: "sign with the Ed25519 private `KEY` (from 'tripline baseline keygen'); needs -o FILE"},
			},
			Action: func(c *cli.Context) error { return runExport(c, e) },
		},
		{
			Name:      "keygen",
			Usage:     "make an Ed25519 key pair for signing exports",
			UsageText: "tripline baseline keygen [--out PREFIX]",
			Description: `Writes PREFIX.key (the private key, PKCS #8 PEM, mode 0600; never overwritten) and
PREFIX.pub.pem (the public key, PEM). Keep the private key off the hosts it vouches for if you can;
give the public key to the auditor.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "out", Value: "tripline-export", Usage: "file name `PREFIX`"},
			},
			Action: func(c *cli.Context) error {
				priv, pub := c.String("out")+".key", c.String("out")+".pub.pem"
				if err := export.Keygen(priv, pub); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "private key %s (mode 0600)\npublic key  %s\n", priv, pub)
				return nil
			},
		},
		{
			Name:      "verify",
			Usage:     "check an export's signature",
			UsageText: "tripline baseline verify FILE --pubkey PUB [--sig FILE.sig]",
			Description: `Exits 0 when FILE.sig is a valid signature of FILE by the key PUB, 1 when it is not. The
same check with OpenSSL 3:
  openssl pkeyutl -verify -pubin -inkey PUB -rawin -in FILE -sigfile FILE.sig`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "pubkey", Usage: "the public key `PUB` (PEM)"},
				&cli.StringFlag{Name: "sig", Usage: "the signature `FILE` (default: FILE.sig)"},
			},
			Action: func(c *cli.Context) error {
				pub := c.String("pubkey")
				if pub == "" {
					return usagef("verify needs --pubkey PUB, the public key of the signer")
				}
				file := c.Args().First()
				sigFile := c.String("sig")
				if sigFile == "" {
					sigFile = file + ".sig"
				}
				if err := export.VerifyFile(pub, file, sigFile); errors.Is(err, export.ErrBadSignature) {
					fmt.Fprintf(e.stderr, "tripline: %s: %v\n", file, err)
					return exitStatus(exitAdded) // 1: the check failed
				} else if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s: good signature by %s\n", file, pub)
				return nil
			},
		},
		{
			Name:      "diff",
			Usage:     "compare two JSON exports (two hosts, or one host at two audits)",
			UsageText: "tripline baseline diff [--format text|json] A.json B.json",
			Description: `Lists the paths only in A, only in B, and in both with a different type, mode, owner, group,
size, sha256, symlink target or location (times are not compared). Exits like scan: 0 when they
agree, else the sum of 1 (paths only in B: added), 2 (only in A: removed), 4 (differing).`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json"},
			},
			Action: func(c *cli.Context) error { return runExportDiff(c, e) },
		},
	}
}

func runExport(c *cli.Context, e *env) error {
	format := c.String("format")
	switch format {
	case "json", "csv", "html":
	default:
		return usagef("--format %q: must be json, csv or html", format)
	}
	out := c.String("output")
	if c.String("sign") != "" && out == "-" {
		return usagef("--sign needs -o FILE: the signature is written to FILE.sig")
	}
	var sk []byte
	if k := c.String("sign"); k != "" {
		key, err := export.LoadPrivateKey(k)
		if err != nil {
			return err
		}
		sk = key
	}
	pol, err := e.policy()
	if err != nil {
		return err
	}
	db, err := e.openDBReadOnly(c.Context)
	if err != nil {
		return err
	}
	defer db.Close()
	// Evidence for auditors is signed: never sign a baseline edited behind tripline's back.
	if err := trustBaseline(c.Context, db); err != nil {
		return err
	}
	host := report.HostAt(e.root)
	// Built with its files on disk and written one at a time: a baseline of 200,000 files took
	// 930 MB as one document in memory. A signed export is signed from the written file, mapped
	// (WriteSignedFile), not from a copy in memory.
	doc, err := export.Build(c.Context, db, pol, export.Options{Host: host.Name, MachineID: host.ID,
		TriplineVersion: versionString(), Users: baseline.LoadUsers(e.root), Now: time.Now(), Stream: true})
	if err != nil {
		return fmt.Errorf("%s: %w", db.Path(), err)
	}
	defer doc.Close()
	msg := fmt.Sprintf("exported %d files in %d locations to %s", doc.Header.Files, len(doc.Locations), out)
	switch {
	case sk != nil:
		if err := export.WriteSignedFile(out, sk, func(w io.Writer) error { return export.Write(w, doc, format) }); err != nil {
			return err
		}
		msg += ", signature " + out + ".sig"
	case out == "-":
		return export.Write(e.stdout, doc, format)
	default:
		if err := export.WriteFileWith(out, func(w io.Writer) error { return export.Write(w, doc, format) }); err != nil {
			return err
		}
	}
	fmt.Fprintln(e.stderr, msg)
	return nil
}

func runExportDiff(c *cli.Context, e *env) error {
	format := c.String("format")
	if format != "text" && format != "json" {
		return usagef("--format %q: must be text or json", format)
	}
	a, err := readExport(c.Args().Get(0))
	if err != nil {
		return err
	}
	b, err := readExport(c.Args().Get(1))
	if err != nil {
		return err
	}
	r := export.Diff(a, b)
	if format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		export.WriteDiffText(e.stdout, c.Args().Get(0), c.Args().Get(1), r)
	}
	code := 0
	if len(r.OnlyB) > 0 {
		code |= exitAdded
	}
	if len(r.OnlyA) > 0 {
		code |= exitRemoved
	}
	if len(r.Differ) > 0 {
		code |= exitChanged
	}
	if code != 0 {
		return exitStatus(code)
	}
	return nil
}

func readExport(name string) (*export.Document, error) {
	d, err := export.ReadFile(name)
	if errors.Is(err, export.ErrNotExport) {
		return nil, fmt.Errorf("%w (diff compares JSON exports: tripline baseline export --format json)", err)
	}
	return d, err
}
