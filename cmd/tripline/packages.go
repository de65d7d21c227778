package main

import (
	"context"
	"sync"

	"github.com/tripline/tripline/pkgdb"
	"github.com/tripline/tripline/policy"
)

// packages is the package database index of the root, shared by the scans and the daemon of one
// process. The index keeps only the paths of the policy's locations, so a new policy (a daemon's
// reload) gets an index of its own.
type packages struct {
	root string

	mu     sync.Mutex
	digest string
	cache  *pkgdb.Cache
}

func newPackages(root string) *packages { return &packages{root: root} }

// For returns the cache of the index for pol's locations.
func (p *packages) For(pol *policy.Policy) *pkgdb.Cache {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cache == nil || p.digest != pol.Digest() {
		var pats []string
		for _, l := range pol.Locations {
			pats = append(pats, pol.Patterns(l.ID)...)
		}
		p.cache, p.digest = pkgdb.NewCache(p.root, pkgdb.Options{Keep: pkgdb.NewFilter(pats)}), pol.Digest()
	}
	return p.cache
}

// Index returns the current index for pol (reloaded when the package database changed). A
// database that could not be read completely still gives what was read: its gaps are in the
// index and keep paths from being called unowned.
func (p *packages) Index(ctx context.Context, pol *policy.Policy) *pkgdb.Index {
	ix, _ := p.For(pol).Index(ctx)
	return ix
}
