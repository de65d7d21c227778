// Command barewalk is the yardstick of the scan benchmark (bench/run.sh): the least a file
// integrity scanner has to do, a walk of a tree with filepath.WalkDir (symlinks not followed), an
// lstat of every path and the sha256 of every regular file, hashed by a pool of -workers
// goroutines. It stores nothing and compares nothing. It prints one JSON object:
//
//	{"files":N,"bytes":B,"seconds":S,"entries":E,"dirs":D,"errors":X,"workers":W}
//
// files and bytes are the regular files hashed and the bytes read; entries counts every path
// lstat'ed below the root (files, directories, symlinks, FIFOs...).
//
// Usage: barewalk [-workers 2] [-buf 262144] [-iocopy] [-cpuprofile FILE] ROOT
package main

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Files   int64   `json:"files"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	Entries int64   `json:"entries"`
	Dirs    int64   `json:"dirs"`
	Errors  int64   `json:"errors"`
	Workers int     `json:"workers"`
}

func main() {
	workers := flag.Int("workers", 2, "hashing goroutines")
	bufSize := flag.Int("buf", 256<<10, "read buffer `BYTES` per worker (tripline uses 256 KiB)")
	verbose := flag.Bool("v", false, "print unreadable paths on stderr")
	iocopy := flag.Bool("iocopy", false, "hash with io.Copy(h, f), as a naive program would (slower: see hashFile)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to `FILE`")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [-workers N] [-buf BYTES] [-iocopy] [-v] [-cpuprofile FILE] ROOT\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || *workers < 1 || *bufSize < 1 {
		flag.Usage()
		os.Exit(2)
	}
	root := flag.Arg(0)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "barewalk: %v\n", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "barewalk: %v\n", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}

	var res result
	res.Workers = *workers
	var files, bytes, errs atomic.Int64
	report := func(path string, err error) {
		errs.Add(1)
		if *verbose {
			fmt.Fprintf(os.Stderr, "barewalk: %s: %v\n", path, err)
		}
	}

	start := time.Now()
	paths := make(chan string, 512)
	var wg sync.WaitGroup
	for i := 0; i < *workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, *bufSize)
			h := sha256.New()
			for p := range paths {
				f, err := os.Open(p)
				if err != nil {
					report(p, err)
					continue
				}
				h.Reset()
				var n int64
				if *iocopy {
					n, err = io.Copy(h, f)
				} else {
					n, err = hashFile(h, f, buf)
				}
				f.Close()
				if err != nil {
					report(p, err)
					continue
				}
				_ = h.Sum(nil)
				files.Add(1)
				bytes.Add(n)
			}
		}()
	}

	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// An unreadable directory (or root): count it and go on with the rest.
			report(p, err)
			if p == root {
				return err
			}
			return nil
		}
		if p == root {
			return nil
		}
		res.Entries++
		st, err := os.Lstat(p)
		if err != nil {
			report(p, err)
			return nil
		}
		switch {
		case st.IsDir():
			res.Dirs++
		case st.Mode().IsRegular():
			paths <- p
		}
		return nil
	})
	close(paths)
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.Files, res.Bytes, res.Errors = files.Load(), bytes.Load(), errs.Load()
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintf(os.Stderr, "barewalk: %v\n", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

// hashFile reads f into h through buf. Not io.CopyBuffer: *os.File has a WriteTo that ignores the
// buffer given and allocates a 32 KiB one per call, which made this yardstick twice as slow on the
// large gentree.py tree (-iocopy keeps that variant for reference).
func hashFile(h hash.Hash, f *os.File, buf []byte) (int64, error) {
	var n int64
	for {
		k, err := f.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
