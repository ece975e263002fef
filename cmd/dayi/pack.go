package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"dayi/assets"
	"dayi/internal/atomicfile"
	"dayi/store"
	"dayi/store/pack"
	"dayi/weights"
)

// packBar draws one bar per phase (hashing, compressing, extracting…) on a
// terminal; nil callback otherwise.
func packBar(cmd *cobra.Command, off bool) (func(phase string, done, total int64), func()) {
	errOut, ok := cmd.ErrOrStderr().(*os.File)
	if off || !ok || !term.IsTerminal(int(errOut.Fd())) {
		return nil, func() {}
	}
	var bar *progressbar.ProgressBar
	var cur string
	finish := func() {
		if bar != nil {
			bar.Finish()
		}
	}
	return func(phase string, done, total int64) {
		if phase != cur {
			finish()
			cur = phase
			bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(errOut),
				progressbar.OptionSetDescription(phase),
				progressbar.OptionShowBytes(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
			)
		}
		bar.Set64(done)
	}, finish
}

// packResult is `dayi pack --json` and `dayi pack --verify --json`.
type packResult struct {
	File        string         `json:"file"`
	Manifest    *pack.Manifest `json:"manifest"`
	Signed      bool           `json:"signed"`
	Signer      string         `json:"signer_fingerprint,omitempty"`
	Trusted     bool           `json:"trusted"` // signed by a trusted key (--verify-key, --trust, $DAYI_HOME/trusted)
	PackBytes   int64          `json:"pack_bytes"`
	ModelBytes  int64          `json:"model_bytes"`
	Ratio       float64        `json:"ratio"` // pack bytes / model bytes
	Seconds     float64        `json:"seconds"`
	MBPerSecond float64        `json:"mb_per_s"` // model MB (10^6 bytes) per second
	Verified    bool           `json:"verified"`
}

func newPackCmd() *cobra.Command {
	var (
		out, signKey, licenseFile, level, verifyKey string
		verify, asJSON, noProgress                  bool
		threads                                     int
	)
	cmd := &cobra.Command{
		Use:   "pack MODEL -o FILE.dayipack [--sign KEY]  |  pack --verify FILE.dayipack [--verify-key KEY.pub]",
		Short: "Pack a model into one verified, compressed, optionally signed file for carrying across an air gap",
		Long: `dayi pack writes MODEL (a name, a GGUF file or dayi-tiny) into one .dayipack file: a manifest with
the model's name, the files' sizes and sha256, the licence text, the dayi version and the creation
time, optionally signed with an ed25519 key made by 'dayi keygen', then the model compressed with zstd
on all cores. The output is written under a temporary name and renamed when complete.

The licence comes from --license FILE, else from the store (Ollama's licence layer, or what cp/unpack
recorded), else from the GGUF's general.license fields.

dayi pack --verify FILE reads a whole pack and checks the manifest, the signature (against
--verify-key when given) and every file's size and sha256, writing nothing.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			prog, done := packBar(cmd, noProgress)
			defer done()
			if verify {
				if len(args) != 1 {
					return errors.New("pack --verify takes one FILE.dayipack")
				}
				return verifyPack(ctx, cmd, args[0], verifyKey, threads, asJSON, prog, done)
			}
			if len(args) != 1 || out == "" {
				return errors.New("usage: dayi pack MODEL -o FILE.dayipack")
			}
			lvl, ok := map[string]zstd.EncoderLevel{"fastest": zstd.SpeedFastest, "default": zstd.SpeedDefault,
				"better": zstd.SpeedBetterCompression, "best": zstd.SpeedBestCompression}[level]
			if !ok {
				return fmt.Errorf("--level %q: want fastest, default, better or best", level)
			}
			m, err := findModel(args[0])
			if err != nil {
				return err
			}
			opt := pack.WriteOptions{Name: m.FullName(), DayiVersion: version, Level: lvl, Threads: threads, Progress: prog}
			if signKey != "" {
				if opt.Key, err = pack.ReadPrivateKey(signKey); err != nil {
					return err
				}
			}
			path := m.Path
			if m.Source == "embedded" { // pack needs a file: write the embedded model out
				tmp, err := os.CreateTemp("", "dayi-tiny-*.gguf")
				if err != nil {
					return err
				}
				defer os.Remove(tmp.Name())
				if _, err := tmp.Write(assets.DefaultModel); err != nil {
					tmp.Close()
					return err
				}
				tmp.Close()
				path = tmp.Name()
			}
			f, err := openModelFile(m.Path)
			if err != nil {
				return err
			}
			info := weights.Summarize(f, false)
			opt.License = licenseOf(m, f)
			f.Close()
			if licenseFile != "" {
				b, err := os.ReadFile(licenseFile)
				if err != nil {
					return err
				}
				opt.License = string(b)
			}
			if opt.License == "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "dayi: warning: no licence text known for", m.FullName(), "- pass --license FILE")
			}
			opt.Meta = map[string]string{"architecture": info.Architecture, "file_type": info.FileType,
				"parameters": strconv.FormatInt(info.Parameters, 10), "general.name": info.Name}
			src := pack.Source{Name: "model.gguf", Path: path, SHA256: strings.TrimPrefix(m.Digest, "sha256:")}
			start := time.Now()
			var man *pack.Manifest
			err = atomicfile.Write(out, 0o644, func(w io.Writer) error {
				var err error
				man, err = pack.Write(ctx, w, []pack.Source{src}, opt)
				return err
			})
			done()
			if err != nil {
				return err
			}
			st, err := os.Stat(out)
			if err != nil {
				return err
			}
			res := summarizePack(out, man, opt.Key != nil, st.Size(), time.Since(start))
			if opt.Key != nil {
				res.Signer = pack.Fingerprint(opt.Key.Public().(ed25519.PublicKey))
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "packed %s → %s: %s → %s (%.1f%%) in %.1fs, %.0f MB/s%s\n",
				man.Name, out, humanBytes(res.ModelBytes), humanBytes(res.PackBytes), 100*res.Ratio, res.Seconds, res.MBPerSecond,
				map[bool]string{true: ", signed by " + res.Signer, false: ", unsigned"}[res.Signed])
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "the .dayipack file to write")
	f.StringVar(&signKey, "sign", "", "sign with this private key (from 'dayi keygen')")
	f.StringVar(&licenseFile, "license", "", "licence text file to record (default: what the store or the GGUF knows)")
	f.StringVar(&level, "level", "default", "zstd level: fastest, default, better, best")
	f.IntVar(&threads, "threads", 0, "compression threads (0 = all CPUs)")
	f.BoolVar(&verify, "verify", false, "verify FILE.dayipack instead of packing")
	f.StringVar(&verifyKey, "verify-key", "", "with --verify: require a signature by this public key")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&noProgress, "no-progress", false, "no progress bar even on a terminal")
	return cmd
}

func summarizePack(file string, man *pack.Manifest, signed bool, packBytes int64, d time.Duration) *packResult {
	r := &packResult{File: file, Manifest: man, Signed: signed, PackBytes: packBytes, ModelBytes: man.TotalSize(), Seconds: d.Seconds()}
	if r.ModelBytes > 0 {
		r.Ratio = float64(packBytes) / float64(r.ModelBytes)
	}
	if r.Seconds > 0 {
		r.MBPerSecond = float64(r.ModelBytes) / 1e6 / r.Seconds
	}
	return r
}

// trustedDir holds the public keys whose packs unpack installs without
// --trust: one NAME.pub per signer, as made by 'dayi keygen'.
func trustedDir() string { return filepath.Join(dayiHome(), "trusted") }

// readTrust reads the keys given with --trust and those in trustedDir.
func readTrust(files []string) (pack.Trust, error) {
	var t pack.Trust
	for _, f := range files {
		k, err := pack.ReadPublicKey(f)
		if err != nil {
			return t, fmt.Errorf("--trust: %w", err)
		}
		t.Keys = append(t.Keys, k)
	}
	keys, err := pack.ReadPublicKeys(trustedDir())
	if err != nil {
		return t, err
	}
	t.Keys = append(t.Keys, keys...)
	return t, nil
}

// explainUntrusted adds what to do to a refusal for want of a trusted key.
func explainUntrusted(err error) error {
	if !errors.Is(err, pack.ErrUntrusted) {
		return err
	}
	return fmt.Errorf("%w; check the signer's fingerprint with the sender, then pass its key with --trust KEY.pub or copy it to %s (for an unsigned pack: --allow-unsigned)",
		err, trustedDir())
}

func verifyPack(ctx context.Context, cmd *cobra.Command, file, verifyKey string, threads int, asJSON bool,
	prog func(string, int64, int64), done func()) error {
	// With --verify-key only that signer passes; without, any pack whose
	// integrity holds is reported, trusted when its signer's key is in
	// $DAYI_HOME/trusted.
	var trust pack.Trust
	if verifyKey != "" {
		k, err := pack.ReadPublicKey(verifyKey)
		if err != nil {
			return err
		}
		trust.Keys = []ed25519.PublicKey{k}
	} else {
		var err error
		if trust, err = readTrust(nil); err != nil {
			return err
		}
		trust.AllowUnsigned, trust.AnySigner = true, true
	}
	fh, err := os.Open(file)
	if err != nil {
		return err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return err
	}
	start := time.Now()
	h, err := pack.Verify(ctx, fh, pack.ReadOptions{Trust: trust, Threads: threads, Progress: prog})
	done()
	if err != nil {
		return fmt.Errorf("%s: %w", file, explainUntrusted(err))
	}
	res := summarizePack(file, &h.Manifest, h.Signed(), st.Size(), time.Since(start))
	res.Verified, res.Trusted = true, h.Trusted
	if k, err := h.Manifest.SignerKey(); h.Signed() && err == nil {
		res.Signer = pack.Fingerprint(k)
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), res)
	}
	describeVerified(cmd.OutOrStdout(), file, h, res)
	return nil
}

func describeVerified(w io.Writer, file string, h *pack.Header, res *packResult) {
	m := &h.Manifest
	fmt.Fprintf(w, "%s: OK — %s, made %s by dayi %s\n", file, m.Name, m.Created.Format(time.RFC3339), m.DayiVersion)
	for _, f := range m.Files {
		fmt.Fprintf(w, "  %s  %s  sha256:%s\n", f.Name, humanBytes(f.Size), f.SHA256)
	}
	switch {
	case !res.Signed:
		fmt.Fprintln(w, "  unsigned: integrity checked, origin not authenticated")
	case res.Trusted:
		fmt.Fprintf(w, "  signed by %s (a trusted key)\n", res.Signer)
	default:
		fmt.Fprintf(w, "  signed by %s — not a trusted key (pass --verify-key, or add it to %s)\n", res.Signer, trustedDir())
	}
	if m.License == "" {
		fmt.Fprintln(w, "  licence: none recorded")
	} else {
		first, _, _ := strings.Cut(strings.TrimSpace(m.License), "\n")
		fmt.Fprintf(w, "  licence: %s\n", first)
	}
}

func newUnpackCmd() *cobra.Command {
	var (
		trustFiles                []string
		verifyKey, as             string
		require, force, asJSON    bool
		allowUnsigned, noProgress bool
		threads                   int
	)
	cmd := &cobra.Command{
		Use:   "unpack FILE.dayipack [--trust KEY.pub]... [--allow-unsigned]",
		Short: "Install a .dayipack into dayi's store after verifying it",
		Long: `Unpack checks the manifest and signature before reading any data, then streams the model into a
temporary file in $DAYI_HOME/models while checking its size and sha256, and renames it into place only
when everything verified. A truncated, damaged or wrongly signed pack is rejected and leaves nothing
behind.

The pack must be signed by a trusted key: one given with --trust KEY.pub (repeatable), or one of the
public keys (*.pub, from 'dayi keygen') in $DAYI_HOME/trusted/. A pack signed by any other key is
refused with its signer's fingerprint; compare it with the sender's before trusting the key. An
unsigned pack is refused unless --allow-unsigned is given.

Before writing, unpack checks that the destination's file system has room for the files the
manifest declares, and that the pack's compressed bytes could hold them at all; the zstd decoder's
window is capped at 16 MiB.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if verifyKey != "" {
				trustFiles = append(trustFiles, verifyKey)
			}
			trust, err := readTrust(trustFiles)
			if err != nil {
				return err
			}
			trust.AllowUnsigned = allowUnsigned
			fh, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer fh.Close()
			st, err := fh.Stat()
			if err != nil {
				return err
			}
			s := modelStore()
			var name string
			place := func(h *pack.Header, f pack.File) (string, error) {
				dst, err := s.PathFor(name)
				if err != nil {
					return "", err
				}
				if f.Name == "model.gguf" {
					return dst, nil
				}
				return strings.TrimSuffix(dst, ".gguf") + "." + f.Name, nil
			}
			prog, done := packBar(cmd, noProgress)
			start := time.Now()
			h, err := pack.Unpack(ctx, fh, place, force, pack.ReadOptions{Trust: trust, Threads: threads, Progress: prog,
				Accept: func(h *pack.Header) error {
					name = h.Manifest.Name
					if as != "" {
						name = as
					}
					if _, _, _, err := store.ParseName(name); err != nil {
						return err
					}
					hasModel := false
					for _, f := range h.Manifest.Files {
						hasModel = hasModel || f.Name == "model.gguf"
					}
					if !hasModel {
						return fmt.Errorf("%s: the pack has no model.gguf", args[0])
					}
					return nil
				}})
			done()
			if err != nil {
				return fmt.Errorf("%s: %w (nothing was installed)", args[0], explainUntrusted(err))
			}
			path, _ := s.PathFor(name)
			origin := "unpacked from " + filepath.Base(args[0])
			res := summarizePack(args[0], &h.Manifest, h.Signed(), st.Size(), time.Since(start))
			res.Verified, res.Trusted = true, h.Trusted
			if k, err := h.Manifest.SignerKey(); h.Signed() && err == nil {
				res.Signer = pack.Fingerprint(k)
				origin += ", signed by " + res.Signer
			}
			for _, f := range h.Manifest.Files {
				if f.Name == "model.gguf" {
					if err := store.WriteSidecar(path, "sha256:"+f.SHA256, h.Manifest.License, origin); err != nil {
						return err
					}
				}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), struct {
					*packResult
					Name string `json:"name"`
					Path string `json:"path"`
				}{res, name, path})
			}
			describeVerified(cmd.OutOrStdout(), args[0], h, res)
			fmt.Fprintf(cmd.OutOrStdout(), "installed %s → %s\n", name, path)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&trustFiles, "trust", nil, "accept packs signed by this public key (repeatable; added to the keys in $DAYI_HOME/trusted)")
	f.BoolVar(&allowUnsigned, "allow-unsigned", false, "also install unsigned packs (their integrity is still checked; their origin is not)")
	f.StringVar(&verifyKey, "verify-key", "", "same as --trust")
	f.BoolVar(&require, "require-signature", false, "no effect: a trusted signature is always required unless --allow-unsigned")
	_ = f.MarkDeprecated("verify-key", "use --trust")
	_ = f.MarkDeprecated("require-signature", "signatures are required by default")
	f.StringVar(&as, "as", "", "install under this NAME[:TAG] instead of the pack's")
	f.BoolVarP(&force, "force", "f", false, "replace an installed model of the same name")
	f.IntVar(&threads, "threads", 0, "decompression threads (0 = default)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&noProgress, "no-progress", false, "no progress bar even on a terminal")
	return cmd
}

func newKeygenCmd() *cobra.Command {
	var out, comment string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "keygen [-o NAME]",
		Short: "Make an ed25519 key pair for signing packs (NAME.key, secret; NAME.pub, to hand out)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			priv, pubPath := out+".key", out+".pub"
			for _, p := range []string{priv, pubPath} {
				if _, err := os.Stat(p); err == nil {
					return fmt.Errorf("%s exists; not overwriting a key", p)
				}
			}
			pub, key, err := pack.GenerateKey(nil)
			if err != nil {
				return err
			}
			if err := os.WriteFile(priv, []byte(pack.FormatPrivateKey(key, comment)), 0o600); err != nil {
				return err
			}
			if err := os.WriteFile(pubPath, []byte(pack.FormatPublicKey(pub, comment)), 0o644); err != nil {
				os.Remove(priv)
				return err
			}
			fp := pack.Fingerprint(pub)
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]string{"private_key": priv, "public_key": pubPath, "fingerprint": fp})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "private key %s (keep it secret)\npublic key  %s\nfingerprint %s\n", priv, pubPath, fp)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "dayi-signing", "file name stem for NAME.key and NAME.pub")
	cmd.Flags().StringVar(&comment, "comment", "", "a note stored with the key (who signs with it)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
