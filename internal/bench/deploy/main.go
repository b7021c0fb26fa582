// Command deploy is `make bench-deploy`, two comparisons on loopback:
//
//  1. The agent's deploy writer (pkg/agent/deploy: HTTP stream, zstd, sha256, O_DIRECT
//     4 MiB writes, verify) against `curl | zstd -dc | dd oflag=direct bs=4M` (no
//     checksum) writing the same zstd image from the same HTTP server onto the same
//     target, in alternating rounds. Goal: the writer >= 0.95x the pipeline's MB/s with
//     the sha256 verified.
//  2. Image serving: 32 concurrent downloads of a large image from serve's HTTP boot
//     handler (pkg/httpboot, run in its own process so its memory can be read) against
//     nginx (Debian's package), alternating rounds. Goal: >= 0.9x nginx's aggregate MB/s;
//     serve's peak memory printed.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/racklift/racklift/internal/bench/stats"
	"github.com/racklift/racklift/pkg/agent/deploy"
	"github.com/racklift/racklift/pkg/httpboot"
	"github.com/racklift/racklift/templates"
)

func main() {
	size := flag.String("size", "1G", "raw image size (M or G suffix, multiple of 4 MiB); the served image has this size too")
	rounds := flag.Int("rounds", 3, "rounds of each side, alternating")
	clients := flag.Int("clients", 32, "concurrent downloads in the serving comparison")
	target := flag.String("target", "", "write target (a file or a loop device); default: a file in -dir")
	dir := flag.String("dir", "/var/tmp", "where the images and the target file go")
	only := flag.String("only", "", "writer or serve: run one comparison")
	serveDir := flag.String("serve-artifacts", "", "internal: run serve's HTTP boot handler on -listen for this artifacts directory")
	listen := flag.String("listen", "127.0.0.1:0", "internal: with -serve-artifacts")
	flag.Parse()
	if *serveDir != "" {
		serveArtifacts(*serveDir, *listen)
		return
	}
	n, err := parseSize(*size)
	if err != nil {
		log.Fatal(err)
	}
	work, err := os.MkdirTemp(*dir, "racklift-bench-deploy-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	os.Chmod(work, 0o755) // nginx's workers run as nobody
	fmt.Printf("bench-deploy: image %s, %d rounds, load %s\n", *size, *rounds, stats.LoadString())
	raw := filepath.Join(work, "image.raw")
	sum, err := makeImage(raw, n)
	if err != nil {
		log.Fatal(err)
	}
	ok := true
	if *only == "" || *only == "writer" {
		ok = benchWriter(work, raw, sum, n, *target, *rounds) && ok
	}
	if *only == "" || *only == "serve" {
		ok = benchServe(work, raw, n, *clients, *rounds) && ok
	}
	fmt.Printf("load after: %s\n", stats.LoadString())
	if !ok {
		os.Exit(1)
	}
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 || (v*mult)%(4<<20) != 0 {
		return 0, fmt.Errorf("-size %q: a positive multiple of 4 MiB, e.g. 256M or 1G", s)
	}
	return v * mult, nil
}

// makeImage writes n bytes that compress about 2:1 as an OS image does: each 64 KiB is
// half random, half a repeated pattern.
func makeImage(path string, n int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < n; off += int64(len(buf)) {
		for i := 0; i < len(buf); i += 64 << 10 {
			rand.Read(buf[i : i+32<<10])
			for j := i + 32<<10; j < i+64<<10; j++ {
				buf[j] = byte(j % 251)
			}
		}
		f.Write(buf)
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil)), f.Sync()
}

// fileServer serves dir on loopback (the writer comparison's HTTP server for both sides).
func fileServer(dir string) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir))}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }
}

func benchWriter(work, raw, sum string, n int64, target string, rounds int) bool {
	for _, tool := range []string{"curl", "zstd", "dd"} {
		if _, err := exec.LookPath(tool); err != nil {
			log.Fatalf("bench-deploy: %s not found (apt-get install curl zstd coreutils)", tool)
		}
	}
	zst := raw + ".zst"
	if out, err := exec.Command("zstd", "-q", "-3", "-T0", "-f", raw, "-o", zst).CombinedOutput(); err != nil {
		log.Fatalf("zstd: %v %s", err, out)
	}
	zi, _ := os.Stat(zst)
	base, stop := fileServer(work)
	defer stop()
	url := base + "/" + filepath.Base(zst)
	if target == "" {
		target = filepath.Join(work, "target.disk")
		f, _ := os.Create(target)
		f.Truncate(n)
		f.Close()
	}
	fmt.Printf("\nwriter: %d MiB raw (%d MiB zstd) from %s onto %s\n", n>>20, zi.Size()>>20, url, target)
	var ours, theirs []float64
	for r := range rounds {
		// Pipeline: no checksum.
		start := time.Now()
		cmd := exec.Command("sh", "-c", fmt.Sprintf("curl -sf %q | zstd -dc | dd of=%q oflag=direct bs=4M iflag=fullblock conv=notrunc status=none", url, target))
		if out, err := cmd.CombinedOutput(); err != nil {
			log.Fatalf("pipeline: %v %s", err, out)
		}
		p := float64(n) / 1e6 / time.Since(start).Seconds()
		theirs = append(theirs, p)
		// The agent's writer, sha256 verified.
		src := &deploy.Source{URL: url}
		body, _, err := src.Open(context.Background())
		if err != nil {
			log.Fatal(err)
		}
		start = time.Now()
		w, err := deploy.Write(context.Background(), body, target, sum, deploy.WriteOptions{Image: "bench"})
		body.Close()
		if err != nil {
			log.Fatalf("writer: %v", err)
		}
		if !w.Verified || w.Bytes != n {
			log.Fatalf("writer: %+v", w)
		}
		o := float64(n) / 1e6 / time.Since(start).Seconds()
		ours = append(ours, o)
		fmt.Printf("  round %d: pipeline %.0f MB/s, writer %.0f MB/s (sha256 verified, direct=%v %s)\n", r+1, p, o, w.Direct, w.NoDirect)
	}
	mo, mt := median(ours), median(theirs)
	ratio := stats.Ratio(mo, mt)
	pass := ratio >= 0.95
	fmt.Printf("writer: median %.0f MB/s vs pipeline %.0f MB/s = %.2fx (goal >= 0.95x): %s\n", mo, mt, ratio, verdict(pass))
	return pass
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// serveArtifacts is the child process: serve's HTTP boot handler for dir.
func serveArtifacts(dir, addr string) {
	h, err := httpboot.New(httpboot.Config{Templates: templates.FS, Artifacts: dir})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	log.Fatal((&http.Server{Handler: h}).Serve(ln))
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func benchServe(work, raw string, n int64, clients, rounds int) bool {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/sbin/nginx"} {
			if _, serr := os.Stat(p); serr == nil {
				nginx, err = p, nil
			}
		}
	}
	if err != nil {
		log.Fatal("bench-deploy: nginx not found (apt-get install nginx-light)")
	}
	art := filepath.Join(work, "artifacts")
	os.MkdirAll(filepath.Join(art, "images"), 0o755)
	img := filepath.Join(art, "images", "image.raw")
	if err := os.Rename(raw, img); err != nil {
		log.Fatal(err)
	}
	// serve's handler in its own process.
	self, _ := os.Executable()
	sc := exec.Command(self, "-serve-artifacts", art)
	out, _ := sc.StdoutPipe()
	sc.Stderr = os.Stderr
	sc.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlives the bench
	if err := sc.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() { sc.Process.Kill(); sc.Wait() }()
	line := make([]byte, 64)
	k, _ := out.Read(line)
	serveURL := "http://" + strings.TrimSpace(string(line[:k])) + "/artifacts/images/image.raw"

	// nginx, in the foreground, with its own prefix, config and pid file.
	port := freePort()
	prefix := filepath.Join(work, "nginx")
	os.MkdirAll(filepath.Join(prefix, "logs"), 0o755)
	conf := filepath.Join(prefix, "nginx.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log;
events { worker_connections 1024; }
http {
  sendfile on;
  tcp_nopush on;
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  types { application/octet-stream raw; }
  server { listen 127.0.0.1:%[2]d; location /artifacts/ { alias %[3]s/; } }
}
`, prefix, port, art)), 0o644)
	nc := exec.Command(nginx, "-p", prefix, "-c", conf)
	nc.Stderr = os.Stderr
	// SIGTERM, not SIGKILL: nginx's master then stops its workers.
	nc.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := nc.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() { nc.Process.Signal(syscall.SIGTERM); nc.Wait() }()
	nginxURL := fmt.Sprintf("http://127.0.0.1:%d/artifacts/images/image.raw", port)
	if err := waitUp(nginxURL); err != nil {
		fmt.Printf("serving: nginx: %v\n", err)
		return false
	}
	if err := waitUp(serveURL); err != nil {
		fmt.Printf("serving: serve's handler: %v\n", err)
		return false
	}

	fmt.Printf("\nserving: %d concurrent downloads of a %d MiB image, serve's handler vs nginx %s\n", clients, n>>20, nginxVersion(nginx))
	var ours, theirs []float64
	for r := range rounds {
		t := storm(nginxURL, clients, n)
		o := storm(serveURL, clients, n)
		theirs, ours = append(theirs, t), append(ours, o)
		fmt.Printf("  round %d: nginx %.0f MB/s, serve %.0f MB/s\n", r+1, t, o)
	}
	rss, hwm := procMem(sc.Process.Pid)
	mo, mt := median(ours), median(theirs)
	ratio := stats.Ratio(mo, mt)
	pass := ratio >= 0.9
	fmt.Printf("serving: median %.0f MB/s vs nginx %.0f MB/s = %.2fx (goal >= 0.9x): %s; serve's memory: %d MiB resident, peak %d MiB\n",
		mo, mt, ratio, verdict(pass), rss>>10, hwm>>10)
	return pass
}

func nginxVersion(bin string) string {
	out, _ := exec.Command(bin, "-v").CombinedOutput()
	return strings.TrimSpace(strings.TrimPrefix(string(out), "nginx version: "))
}

func waitUp(url string) error {
	var last error
	for range 300 {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not come up in 30s: %v", url, last)
}

// storm downloads url with c concurrent clients and returns the aggregate MB/s.
func storm(url string, c int, n int64) float64 {
	tr := &http.Transport{MaxIdleConnsPerHost: c, DisableCompression: true}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	errs := make(chan error, c)
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := cl.Get(url)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			got, err := io.Copy(io.Discard, resp.Body)
			if err == nil && got != n {
				err = fmt.Errorf("got %d of %d bytes", got, n)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		log.Fatalf("%s: %v", url, err)
	}
	return float64(n) * float64(c) / 1e6 / time.Since(start).Seconds()
}

// procMem is a process's resident and peak resident memory in KiB.
func procMem(pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}
