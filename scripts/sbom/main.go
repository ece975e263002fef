// Command sbom writes a CycloneDX 1.5 JSON software bill of materials for
// dayi release binaries, made from what the Go toolchain recorded in them
// (`go version -m`): the Go version, the main module, every dependency module
// with its go.sum hash, and the build settings (GOOS, GOARCH, CGO_ENABLED).
// It needs no network and no module cache, so it runs on the air-gapped
// build host that made the binaries (scripts/release.sh).
//
//	go run ./scripts/sbom -version 1.2.0 -o dist/dayi-1.2.0.cdx.json dist/dayi-1.2.0-*
//
// The document is deterministic for the same binaries and flags: the serial
// number is derived from the binaries' SHA-256 and the timestamp comes from
// -time (release.sh passes the commit time), so two builds of one commit
// give byte-identical SBOMs.
//
// Field names follow the CycloneDX 1.5 JSON schema
// (https://cyclonedx.org/docs/1.5/json/) and package URLs the purl spec's
// golang type (https://github.com/package-url/purl-spec, pkg:golang/...).
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// module is one line of `go version -m`: the main module or a dependency,
// with its replacement when the build used one.
type module struct {
	Path, Version, Sum string
	Replace            *module
}

// binaryInfo is what `go version -m` reports about one binary.
type binaryInfo struct {
	File      string // as go version -m printed it
	GoVersion string
	MainPkg   string // "path" line
	Main      module
	Deps      []module
	Settings  map[string]string // "build" lines, key=value
}

// parseVersionM reads the output of `go version -m FILE...`: a header line
// "FILE: goVERSION" per binary, then tab-indented path/mod/dep/=>/build lines.
func parseVersionM(r io.Reader) ([]binaryInfo, error) {
	var bins []binaryInfo
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if text == "" {
			continue
		}
		if !strings.HasPrefix(text, "\t") {
			i := strings.LastIndex(text, ": ")
			if i < 0 || !strings.HasPrefix(text[i+2:], "go") {
				return nil, fmt.Errorf("go version -m line %d: want \"FILE: goVERSION\", got %q", line, text)
			}
			bins = append(bins, binaryInfo{File: text[:i], GoVersion: text[i+2:], Settings: map[string]string{}})
			continue
		}
		if len(bins) == 0 {
			return nil, fmt.Errorf("go version -m line %d: %q before any binary header", line, text)
		}
		b := &bins[len(bins)-1]
		f := strings.Split(text[1:], "\t")
		switch f[0] {
		case "path":
			if len(f) < 2 {
				return nil, fmt.Errorf("go version -m line %d: path without a value", line)
			}
			b.MainPkg = f[1]
		case "mod", "dep", "=>":
			if len(f) < 3 {
				return nil, fmt.Errorf("go version -m line %d: %s line needs a path and a version: %q", line, f[0], text)
			}
			m := module{Path: f[1], Version: f[2]}
			if len(f) > 3 {
				m.Sum = f[3]
			}
			switch f[0] {
			case "mod":
				b.Main = m
			case "dep":
				b.Deps = append(b.Deps, m)
			case "=>":
				if len(b.Deps) == 0 {
					return nil, fmt.Errorf("go version -m line %d: replacement with no module before it", line)
				}
				b.Deps[len(b.Deps)-1].Replace = &m
			}
		case "build":
			if len(f) < 2 {
				return nil, fmt.Errorf("go version -m line %d: build without a setting", line)
			}
			k, v, _ := strings.Cut(f[1], "=")
			b.Settings[k] = v
		default:
			// Newer toolchains may add line kinds; an SBOM that ignores one is
			// still right about everything it lists.
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading go version -m output: %w", err)
	}
	if len(bins) == 0 {
		return nil, errors.New("go version -m printed no binaries")
	}
	return bins, nil
}

// CycloneDX 1.5 JSON, only the fields this tool fills.
type bom struct {
	BOMFormat    string       `json:"bomFormat"`
	SpecVersion  string       `json:"specVersion"`
	SerialNumber string       `json:"serialNumber"`
	Version      int          `json:"version"`
	Metadata     metadata     `json:"metadata"`
	Components   []component  `json:"components"`
	Dependencies []dependency `json:"dependencies"`
}

type metadata struct {
	Timestamp string         `json:"timestamp,omitempty"`
	Tools     toolsBlock     `json:"tools"`
	Component component      `json:"component"`
	Props     []property     `json:"properties,omitempty"`
	Lifecycle []lifecycleRef `json:"lifecycles,omitempty"`
}

type lifecycleRef struct {
	Phase string `json:"phase"`
}

type toolsBlock struct {
	Components []component `json:"components"`
}

type component struct {
	Type       string     `json:"type"`
	BOMRef     string     `json:"bom-ref,omitempty"`
	Name       string     `json:"name"`
	Version    string     `json:"version,omitempty"`
	PURL       string     `json:"purl,omitempty"`
	Hashes     []hash     `json:"hashes,omitempty"`
	Properties []property `json:"properties,omitempty"`
}

type hash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

type property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type dependency struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn"`
}

// purl is the package URL of a Go module (purl spec, type golang).
func purl(path, version string) string {
	return "pkg:golang/" + path + "@" + version
}

// buildBOM assembles the SBOM of the binaries. sums maps each binaryInfo.File
// to its SHA-256 (hex). The module graph is recorded per binary, since a
// dependency may be linked only on some platforms.
func buildBOM(bins []binaryInfo, sums map[string]string, appVersion string, ts time.Time) (*bom, error) {
	if appVersion == "" {
		return nil, errors.New("empty application version")
	}
	app := component{Type: "application", BOMRef: "dayi@" + appVersion, Name: "dayi", Version: appVersion}
	b := &bom{
		BOMFormat: "CycloneDX", SpecVersion: "1.5", Version: 1,
		Metadata: metadata{
			Tools:     toolsBlock{Components: []component{{Type: "application", Name: "dayi-sbom (scripts/sbom, from go version -m)"}}},
			Component: app,
			Lifecycle: []lifecycleRef{{Phase: "build"}},
		},
	}
	if !ts.IsZero() {
		b.Metadata.Timestamp = ts.UTC().Format(time.RFC3339)
	}
	mods := map[string]component{} // bom-ref → component, shared across binaries
	var appDeps []string
	serial := sha256.New()
	names := make([]string, 0, len(bins))
	for _, bi := range bins {
		names = append(names, bi.File)
	}
	sort.Strings(names)
	byFile := map[string]binaryInfo{}
	for _, bi := range bins {
		if _, dup := byFile[bi.File]; dup {
			return nil, fmt.Errorf("binary %s listed twice", bi.File)
		}
		byFile[bi.File] = bi
	}
	for _, name := range names {
		bi := byFile[name]
		sum, ok := sums[bi.File]
		if !ok {
			return nil, fmt.Errorf("no SHA-256 for binary %s", bi.File)
		}
		serial.Write([]byte(sum))
		base := filepath.Base(bi.File)
		binRef := "file:" + base
		bin := component{
			Type: "application", BOMRef: binRef, Name: base, Version: appVersion,
			Hashes: []hash{{Alg: "SHA-256", Content: sum}},
			Properties: []property{
				{Name: "go:version", Value: bi.GoVersion},
				{Name: "go:main-package", Value: bi.MainPkg},
			},
		}
		for _, k := range []string{"GOOS", "GOARCH", "CGO_ENABLED", "-ldflags", "-trimpath", "GOAMD64", "GOARM64"} {
			if v, ok := bi.Settings[k]; ok {
				bin.Properties = append(bin.Properties, property{Name: "go:build:" + k, Value: v})
			}
		}
		b.Components = append(b.Components, bin)
		appDeps = append(appDeps, binRef)

		// The standard library is linked into every binary: name it, pinned
		// to the toolchain (as other Go SBOM tools do, pkg:golang/stdlib).
		std := component{Type: "library", Name: "stdlib", Version: bi.GoVersion, PURL: purl("stdlib", bi.GoVersion)}
		std.BOMRef = std.PURL
		mods[std.BOMRef] = std
		deps := []string{std.BOMRef}
		for _, m := range bi.Deps {
			eff := m
			if m.Replace != nil {
				eff = *m.Replace
			}
			c := component{Type: "library", Name: eff.Path, Version: eff.Version}
			if strings.HasPrefix(eff.Path, ".") || strings.HasPrefix(eff.Path, "/") {
				// A local directory replacement has no package URL.
				c.BOMRef = "local:" + eff.Path
			} else {
				c.PURL = purl(eff.Path, eff.Version)
				c.BOMRef = c.PURL
			}
			if eff.Sum != "" {
				// go.sum's h1: hash (SHA-256 over the module's file list), not
				// a file digest, so it is a property rather than a CycloneDX hash.
				c.Properties = append(c.Properties, property{Name: "go:module:sum", Value: eff.Sum})
			}
			if m.Replace != nil {
				c.Properties = append(c.Properties, property{Name: "go:module:replaces", Value: m.Path + "@" + m.Version})
			}
			mods[c.BOMRef] = c
			deps = append(deps, c.BOMRef)
		}
		sort.Strings(deps)
		b.Dependencies = append(b.Dependencies, dependency{Ref: binRef, DependsOn: deps})
	}
	refs := make([]string, 0, len(mods))
	for r := range mods {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	for _, r := range refs {
		b.Components = append(b.Components, mods[r])
		b.Dependencies = append(b.Dependencies, dependency{Ref: r, DependsOn: []string{}})
	}
	b.Dependencies = append([]dependency{{Ref: app.BOMRef, DependsOn: appDeps}}, b.Dependencies...)
	serial.Write([]byte(appVersion))
	s := serial.Sum(nil)
	// A UUID-shaped serial (RFC 4122 layout, version 5 bits) derived from the
	// content, so identical inputs give identical documents.
	s[6] = s[6]&0x0f | 0x50
	s[8] = s[8]&0x3f | 0x80
	b.SerialNumber = fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
	return b, nil
}

// sha256File returns the hex SHA-256 of a file's bytes.
func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// generate runs `go version -m` on the binaries and returns the SBOM.
func generate(goCmd string, files []string, appVersion string, ts time.Time) (*bom, error) {
	var out, stderr bytes.Buffer
	cmd := exec.Command(goCmd, append([]string{"version", "-m"}, files...)...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go version -m %s: %w: %s", strings.Join(files, " "), err, strings.TrimSpace(stderr.String()))
	}
	bins, err := parseVersionM(&out)
	if err != nil {
		return nil, err
	}
	if len(bins) != len(files) {
		// go version -m silently skips files that are not Go binaries.
		return nil, fmt.Errorf("go version -m described %d of %d files; the others are not Go binaries", len(bins), len(files))
	}
	sums := map[string]string{}
	for _, bi := range bins {
		s, err := sha256File(bi.File)
		if err != nil {
			return nil, err
		}
		sums[bi.File] = s
	}
	return buildBOM(bins, sums, appVersion, ts)
}

func main() {
	fs := flag.NewFlagSet("sbom", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: sbom -version V [-time RFC3339|-epoch SECONDS] [-o FILE] BINARY...\n\n"+
			"Writes a CycloneDX 1.5 JSON SBOM of Go binaries from `go version -m`.\n\n")
		fs.PrintDefaults()
	}
	appVersion := fs.String("version", "", "the release version of the binaries (required)")
	outPath := fs.String("o", "", "output file (default stdout)")
	stamp := fs.String("time", "", "timestamp of the SBOM, RFC 3339 (default: -epoch, else none)")
	epoch := fs.Int64("epoch", -1, "timestamp as Unix seconds, e.g. $SOURCE_DATE_EPOCH or the commit time")
	goCmd := fs.String("go", "go", "the go command to run")
	_ = fs.Parse(os.Args[1:])
	if *appVersion == "" || fs.NArg() == 0 {
		fs.Usage()
		os.Exit(2)
	}
	var ts time.Time
	switch {
	case *stamp != "":
		t, err := time.Parse(time.RFC3339, *stamp)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sbom: -time:", err)
			os.Exit(2)
		}
		ts = t
	case *epoch >= 0:
		ts = time.Unix(*epoch, 0)
	}
	b, err := generate(*goCmd, fs.Args(), *appVersion, ts)
	if err == nil {
		err = write(b, *outPath)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}

func write(b *bom, path string) error {
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if path == "" {
		_, err = os.Stdout.Write(data)
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
