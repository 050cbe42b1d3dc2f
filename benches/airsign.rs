//! airsign's benchmarks: the real release binary against the usual tools, on data
//! generated here. Run with `make bench` (or `cargo bench --bench airsign [SECTION..]`).
//!
//! Sections (all by default; pick with arguments or `AIRSIGN_BENCH=fsck,...`):
//! * `fsck` — `airsign fsck` on a ~1 GiB store against `openssl dgst -sha256` and
//!   `sha256sum` over the same blob files. Target: fsck ≥ 1.6× openssl (which hashes
//!   on one core), airsign's peak RSS < 64 MiB.
//!
//! * `sign` — `airsign sign --all` over a generated 10,000-image store in one call,
//!   then `airsign verify` of every image in one call, against `openssl speed
//!   ecdsap256`; and the real `cosign sign --tlog-upload=false` on 20 images in a
//!   loopback `docker-registry`, per image. Targets: ≥ 5,000 signatures/s end to end,
//!   ≥ 3,000 verifications/s, `index.json` renamed into place once per call (counted
//!   with strace when present), peak RSS < 100 MiB. Baseline in the same run: `tar xf`
//!   of a tar holding exactly the files signing added (and index.json) into the same
//!   unsigned store, then `sync -f`; target: sign's time <= 1.3x that baseline's.
//! * `export` — `airsign export --all` of a ~2 GiB signed store to an oci-archive
//!   against `tar cf` of the store directory (on disk, and on tmpfs), and `skopeo copy
//!   oci:… oci-archive:…` of one image; then `airsign import` of that archive into a
//!   fresh store against `tar xf` of it (on disk, and on tmpfs), and of the one-image
//!   archive against `skopeo copy oci-archive:… oci:…`. Targets: export and import
//!   ≥ 0.8× tar, peak RSS < 64 MiB. Then zstd both ways, side by side: `export --all
//!   --compress zstd` against `tar cf - | zstd -T0 -3` (+ `sync FILE`), and `import` of
//!   that .tar.zst against `zstd -d | tar xf -` (+ `sync -f DIR`), on disk and tmpfs.
//!   Target: both ≥ 0.9× on disk.
//! * `sync` — `airsign sync --all` of a signed ~300 MB store (50 images in 10
//!   repositories on 4 shared chains of base layers) into a fresh loopback
//!   `docker-registry`, against `skopeo copy --preserve-digests oci:… docker://…` of
//!   each tag (image and `.sig`; one process per tag, times summed) into another fresh
//!   one (registry storage on tmpfs when there is one, on disk with
//!   `AIRSIGN_BENCH_REGISTRY_ON_DISK=1`); then a resync of 1,000 tags
//!   that are all there already (with `--plain-http`, as for a known HTTPS
//!   registry). Targets: cold ≤ 0.5× skopeo's time, warm ≤ 2 s and ≤ 1 HTTP request
//!   per tag (from `sync --json`), peak RSS < 64 MiB.
//!
//! Settings: `AIRSIGN_BENCH_SCALE` (default 1.0) scales the generated data (and the
//! image count of `sign`);
//! `AIRSIGN_BENCH_DIR` is where temp data goes (default target/tmp, on disk);
//! `AIRSIGN_BENCH_RUNS` (default 3) runs per tool, the best counts;
//! `AIRSIGN_BIN` overrides the airsign binary; `AIRSIGN_TEST_OPENSSL`,
//! `AIRSIGN_TEST_GNU_TIME`, `AIRSIGN_TEST_COSIGN`, `AIRSIGN_TEST_SKOPEO` and
//! `AIRSIGN_TEST_REGISTRY` (from `make tools`) name the other tools.
//! Exits non-zero if a command fails; a missed target is reported, and fails the
//! run only with `AIRSIGN_BENCH_STRICT=1`.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A benchmark section: a name to select it by and the code that prints its table.
struct Section {
    name: &'static str,
    about: &'static str,
    run: fn(&Ctx) -> Outcome,
}

/// What a section found: `failed` = a command failed (the run exits non-zero),
/// `missed` = a target was not met.
#[derive(Default)]
struct Outcome {
    failed: bool,
    missed: bool,
}

const SECTIONS: &[Section] = &[
    Section {
        name: "fsck",
        about: "airsign fsck vs openssl dgst -sha256 vs sha256sum on a ~1 GiB store",
        run: bench_fsck,
    },
    Section {
        name: "sign",
        about: "airsign sign --all / verify on 10,000 images vs openssl speed; cosign sign",
        run: bench_sign,
    },
    Section {
        name: "export",
        about: "airsign export --all / import vs tar cf / tar xf vs skopeo copy; zstd vs tar|zstd -T0, ~2 GiB store",
        run: bench_export,
    },
    Section {
        name: "sync",
        about: "airsign sync --all vs skopeo copy per tag, ~300 MB to a loopback registry; warm resync of 1,000 tags",
        run: bench_sync,
    },
];

/// Shared settings of one benchmark run.
struct Ctx {
    airsign: PathBuf,
    openssl: PathBuf,
    gnu_time: Option<PathBuf>,
    cosign: Option<PathBuf>,
    skopeo: Option<PathBuf>,
    registry: Option<PathBuf>,
    work: PathBuf,
    scale: f64,
    runs: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test --benches` runs this without --bench: do nothing then, so the
    // benchmarks never run as part of the tests.
    if !args.iter().any(|a| a == "--bench") {
        println!("airsign benchmarks: run them with `make bench` / `cargo bench --bench airsign`");
        return;
    }
    let mut wanted: Vec<String> = args.into_iter().filter(|a| !a.starts_with('-')).collect();
    if wanted.is_empty()
        && let Ok(v) = std::env::var("AIRSIGN_BENCH")
    {
        wanted = v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
    }
    if wanted.iter().any(|w| w == "list") {
        for s in SECTIONS {
            println!("{:<10} {}", s.name, s.about);
        }
        return;
    }
    for w in &wanted {
        if !SECTIONS.iter().any(|s| s.name == w) {
            let names: Vec<_> = SECTIONS.iter().map(|s| s.name).collect();
            eprintln!(
                "unknown bench section {w:?}; sections: {}",
                names.join(", ")
            );
            std::process::exit(2);
        }
    }
    let ctx = Ctx::from_env();
    let (mut failed, mut missed) = (false, false);
    for s in SECTIONS {
        if wanted.is_empty() || wanted.iter().any(|w| w == s.name) {
            println!("\n== {}: {}", s.name, s.about);
            let o = (s.run)(&ctx);
            failed |= o.failed;
            missed |= o.missed;
        }
    }
    let strict = std::env::var("AIRSIGN_BENCH_STRICT").is_ok_and(|v| v == "1");
    if failed || (strict && missed) {
        std::process::exit(1);
    }
}

impl Ctx {
    fn from_env() -> Ctx {
        let env_path = |var: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .filter(|p| p.is_file())
        };
        let airsign =
            env_path("AIRSIGN_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_airsign").into());
        let openssl = env_path("AIRSIGN_TEST_OPENSSL").unwrap_or_else(|| "openssl".into());
        let gnu_time = env_path("AIRSIGN_TEST_GNU_TIME").or_else(|| {
            let p = PathBuf::from("/usr/bin/time");
            p.is_file().then_some(p)
        });
        let work = std::env::var_os("AIRSIGN_BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_TARGET_TMPDIR").into());
        let scale = std::env::var("AIRSIGN_BENCH_SCALE")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .unwrap_or(1.0);
        let runs = std::env::var("AIRSIGN_BENCH_RUNS")
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(3);
        std::fs::create_dir_all(&work).expect("bench work dir");
        println!(
            "airsign {} | {} cores | {} | best of {runs}",
            airsign.display(),
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model()
        );
        if gnu_time.is_none() {
            println!("(no GNU time: peak RSS from /proc polling)");
        }
        Ctx {
            airsign,
            openssl,
            gnu_time,
            cosign: env_path("AIRSIGN_TEST_COSIGN"),
            skopeo: env_path("AIRSIGN_TEST_SKOPEO"),
            registry: env_path("AIRSIGN_TEST_REGISTRY"),
            work,
            scale,
            runs,
        }
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

// ---------------------------------------------------------------------------
// Measuring commands

/// The best (shortest) of several runs of one command, and its peak RSS.
struct Measure {
    best: Duration,
    rss_kib: Option<u64>,
}

/// Runs `make_cmd()` `runs` times; `Err` (with the tail of its output) if it fails.
/// `check` sees the first run's stdout and may reject it.
fn measure(
    ctx: &Ctx,
    make_cmd: &dyn Fn() -> Command,
    check: &dyn Fn(&[u8]) -> Result<(), String>,
) -> Result<Measure, String> {
    let mut best = Duration::MAX;
    let mut rss = None::<u64>;
    for i in 0..ctx.runs {
        let (took, out, peak) = run_timed(ctx, make_cmd())?;
        if i == 0 {
            check(&out)?;
        }
        best = best.min(took);
        rss = match (rss, peak) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(Measure { best, rss_kib: rss })
}

/// One run: wall time, stdout, peak RSS in KiB (GNU time's %M, else /proc polling).
fn run_timed(ctx: &Ctx, cmd: Command) -> Result<(Duration, Vec<u8>, Option<u64>), String> {
    run_timed_to(ctx, cmd, true)
}

/// [`run_timed`], with stdout sent to /dev/null (and none returned) unless `keep_stdout`.
fn run_timed_to(
    ctx: &Ctx,
    cmd: Command,
    keep_stdout: bool,
) -> Result<(Duration, Vec<u8>, Option<u64>), String> {
    let rss_file = ctx.work.join(format!("rss.{}", std::process::id()));
    let mut cmd = match &ctx.gnu_time {
        Some(time) => {
            let mut c = Command::new(time);
            c.arg("-f").arg("%M").arg("-o").arg(&rss_file);
            c.arg(cmd.get_program()).args(cmd.get_args());
            if let Some(d) = cmd.get_current_dir() {
                c.current_dir(d);
            }
            for (k, v) in cmd.get_envs() {
                match v {
                    Some(v) => c.env(k, v),
                    None => c.env_remove(k),
                };
            }
            c
        }
        None => cmd,
    };
    let what = format!("{:?}", cmd);
    let out_path = ctx.work.join(format!("out.{}", std::process::id()));
    let err_path = ctx.work.join(format!("err.{}", std::process::id()));
    // Output goes to files: a pipe that nobody reads while timing could stall the tool.
    let stdout = if keep_stdout {
        Stdio::from(File::create(&out_path).map_err(|e| e.to_string())?)
    } else {
        Stdio::null()
    };
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(File::create(&err_path).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let mut polled = 0u64;
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if ctx.gnu_time.is_none() {
            polled = polled.max(vm_hwm_kib(child.id()).unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let took = start.elapsed();
    let stdout = if keep_stdout {
        std::fs::read(&out_path).unwrap_or_default()
    } else {
        Vec::new()
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    let rss = match &ctx.gnu_time {
        Some(_) => std::fs::read_to_string(&rss_file)
            .ok()
            .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok())),
        None => (polled > 0).then_some(polled),
    };
    let _ = std::fs::remove_file(&rss_file);
    if !status.success() {
        let tail = |s: &str| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        return Err(format!(
            "{what} failed ({status})\n--- stderr (tail) ---\n{}\n--- stdout (tail) ---\n{}",
            tail(&stderr),
            tail(&String::from_utf8_lossy(&stdout))
        ));
    }
    Ok((took, stdout, rss))
}

/// Peak resident set (VmHWM) of a running process, in KiB.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A target's word in a section's summary line.
fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "NOT MET",
        None => "unknown",
    }
}

/// A ratio as the summary lines print it (`-` when a run failed).
fn show_ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}x"))
}

/// The highest peak RSS of the airsign rows, in MiB.
fn airsign_rss_mib<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Option<f64> {
    rows.into_iter()
        .filter(|r| r.tool.starts_with("airsign"))
        .filter_map(|r| r.result.as_ref().ok().and_then(|m| m.rss_kib))
        .max()
        .map(|k| k as f64 / 1024.0)
}

/// One line of a result table.
struct Row {
    tool: String,
    result: Result<Measure, String>,
}

/// Prints rows as a table with MB/s (10^6 bytes) and the ratio to `reference`.
fn print_table(bytes: u64, rows: &[Row], reference: &str) {
    let ref_secs = rows
        .iter()
        .find(|r| r.tool == reference)
        .and_then(|r| r.result.as_ref().ok())
        .map(|m| m.best.as_secs_f64());
    println!(
        "{:<32} {:>9} {:>10} {:>11} {:>12}",
        "tool",
        "seconds",
        "MB/s",
        format!("vs {}", reference.split_whitespace().next().unwrap_or("")),
        "peak RSS"
    );
    for r in rows {
        match &r.result {
            Ok(m) => {
                let secs = m.best.as_secs_f64();
                let ratio = ref_secs.map_or("-".into(), |rs| format!("{:.2}x", rs / secs));
                let rss = m
                    .rss_kib
                    .map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
                println!(
                    "{:<32} {:>9.3} {:>10.1} {:>11} {:>12}",
                    r.tool,
                    secs,
                    bytes as f64 / secs / 1e6,
                    ratio,
                    rss
                );
            }
            Err(_) => println!("{:<32} {:>9}", r.tool, "FAILED"),
        }
    }
    for r in rows {
        if let Err(e) = &r.result {
            println!("\n{} FAILED:\n{e}", r.tool);
        }
    }
}

// ---------------------------------------------------------------------------
// Section: fsck

/// A deterministic, fast pseudo-random byte stream (splitmix64): incompressible
/// enough for hashing, and the same store on every run.
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A descriptor of a blob written into the store.
#[derive(Clone)]
struct Blob {
    digest: String,
    size: u64,
}

/// Writes one blob from the PRNG (streamed, hashed while written).
fn write_random_blob(blobs: &Path, size: u64, rng: &mut Prng, buf: &mut [u8]) -> Blob {
    let tmp = blobs.join(".tmp");
    let mut f = BufWriter::with_capacity(1 << 20, File::create(&tmp).unwrap());
    let mut h = Sha256::new();
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill(&mut buf[..n]);
        h.update(&buf[..n]);
        f.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
    drop(f);
    let hex = hex(&h.finalize());
    std::fs::rename(&tmp, blobs.join(&hex)).unwrap();
    Blob {
        digest: format!("sha256:{hex}"),
        size,
    }
}

fn write_json_blob(blobs: &Path, v: &Value) -> Blob {
    let bytes = serde_json::to_vec(v).unwrap();
    let hex = hex(&Sha256::digest(&bytes));
    std::fs::write(blobs.join(&hex), &bytes).unwrap();
    Blob {
        digest: format!("sha256:{hex}"),
        size: bytes.len() as u64,
    }
}

const MIB: u64 = 1 << 20;
const MT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MT_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A store of about `scale` GiB: a few 100+ MiB blobs, tens of 1–10 MiB ones,
/// thousands of small ones, all layers of real OCI image manifests that index.json
/// reaches (plus a nested image index), so fsck has to hash every blob.
/// Returns (store dir, total blob bytes, blob count).
fn make_store(root: &Path, scale: f64) -> (PathBuf, u64, usize) {
    let store = root.join("store");
    let blobs = store.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(
        store.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let n = |count: u64| ((count as f64 * scale).round() as u64).max(1);
    let mut sizes: Vec<u64> = Vec::new();
    // 4 x 120–150 MiB = ~540 MiB
    sizes.extend((0..n(4)).map(|i| 120 * MIB + i * 10 * MIB + 12_345));
    // 80 x 1–10 MiB = ~440 MiB
    sizes.extend((0..n(80)).map(|i| MIB + (i * 7919 % 9) * MIB + i * 4099));
    // 3000 x 1–64 KiB = ~96 MiB
    sizes.extend((0..n(3000)).map(|i| 1024 + (i * 104_729) % (63 * 1024)));
    // Interleave the sizes so every image mixes big and small layers.
    let mut rng = Prng(0x5eed_a1a5);
    for i in (1..sizes.len()).rev() {
        sizes.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    let mut buf = vec![0u8; MIB as usize];
    let layers: Vec<Blob> = sizes
        .iter()
        .map(|&s| write_random_blob(&blobs, s, &mut rng, &mut buf))
        .collect();
    let desc = |mt: &str, b: &Blob| json!({"mediaType": mt, "digest": b.digest, "size": b.size});
    let mut entries = Vec::new();
    let mut manifests = Vec::new();
    for (i, group) in layers.chunks(50).enumerate() {
        let arch = if i % 2 == 0 { "amd64" } else { "arm64" };
        let config = write_json_blob(
            &blobs,
            &json!({
                "created": "1970-01-01T00:00:00Z", "architecture": arch, "os": "linux",
                "config": {"Cmd": ["/bin/true"]},
                "rootfs": {"type": "layers",
                           "diff_ids": group.iter().map(|b| b.digest.clone()).collect::<Vec<_>>()},
            }),
        );
        let manifest = write_json_blob(
            &blobs,
            &json!({
                "schemaVersion": 2, "mediaType": MT_MANIFEST,
                "config": desc("application/vnd.oci.image.config.v1+json", &config),
                "layers": group.iter()
                    .map(|b| desc("application/vnd.oci.image.layer.v1.tar", b))
                    .collect::<Vec<_>>(),
            }),
        );
        let mut d = desc(MT_MANIFEST, &manifest);
        d["platform"] = json!({"architecture": arch, "os": "linux"});
        manifests.push(d.clone());
        d["annotations"] = json!({"org.opencontainers.image.ref.name": format!("bench.example.com/bench/img:{i}")});
        entries.push(d);
    }
    // One nested index (over the first two images), as multi-platform images have.
    let index = write_json_blob(
        &blobs,
        &json!({"schemaVersion": 2, "mediaType": MT_INDEX,
                "manifests": manifests.iter().take(2).collect::<Vec<_>>()}),
    );
    let mut d = desc(MT_INDEX, &index);
    d["annotations"] =
        json!({"org.opencontainers.image.ref.name": "bench.example.com/bench/multi:1"});
    entries.push(d);
    std::fs::write(
        store.join("index.json"),
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": entries}),
        )
        .unwrap(),
    )
    .unwrap();
    let (mut total, mut count) = (0u64, 0usize);
    for e in std::fs::read_dir(&blobs).unwrap() {
        total += e.unwrap().metadata().unwrap().len();
        count += 1;
    }
    (store, total, count)
}

/// Reads every file once so that every tool hashes from the page cache.
fn warm(files: &[PathBuf]) {
    let mut buf = vec![0u8; MIB as usize];
    for f in files {
        let mut r = File::open(f).unwrap();
        while r.read(&mut buf).unwrap() > 0 {}
    }
}

fn bench_fsck(ctx: &Ctx) -> Outcome {
    let tmp = tempfile::Builder::new()
        .prefix("bench-fsck.")
        .tempdir_in(&ctx.work)
        .expect("bench temp dir");
    let t = Instant::now();
    let (store, bytes, count) = make_store(tmp.path(), ctx.scale);
    let blobs = store.join("blobs/sha256");
    let mut names: Vec<String> = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let files: Vec<PathBuf> = names.iter().map(|n| blobs.join(n)).collect();
    println!(
        "store: {count} blobs, {:.1} MB ({:.2} GiB) in {} (generated in {:.1}s)",
        bytes as f64 / 1e6,
        bytes as f64 / (1u64 << 30) as f64,
        store.display(),
        t.elapsed().as_secs_f64()
    );
    warm(&files);
    println!("page cache warmed; timing (one process each; airsign uses every core)\n");

    // The baselines must really have hashed every file right: check their output.
    let expect_all = |parse: fn(&str) -> Option<(String, String)>| {
        let names = names.clone();
        move |out: &[u8]| -> Result<(), String> {
            let mut seen = 0;
            for line in String::from_utf8_lossy(out).lines() {
                let (name, sum) = parse(line).ok_or_else(|| format!("odd output line {line:?}"))?;
                if name != sum {
                    return Err(format!("{name} hashes to {sum}"));
                }
                seen += 1;
            }
            if seen != names.len() {
                return Err(format!("hashed {seen} files of {}", names.len()));
            }
            Ok(())
        }
    };
    let sha256sum_line: fn(&str) -> Option<(String, String)> = |l| {
        let (sum, name) = l.split_once("  ")?;
        Some((name.to_owned(), sum.to_owned()))
    };
    let openssl_line: fn(&str) -> Option<(String, String)> = |l| {
        let rest = l
            .strip_prefix("SHA2-256(")
            .or_else(|| l.strip_prefix("SHA256("))?;
        let (name, sum) = rest.split_once(")= ")?;
        Some((name.to_owned(), sum.to_owned()))
    };
    let no_check = |_: &[u8]| Ok(());

    let airsign = |jobs: Option<&str>| {
        let store = store.clone();
        let bin = ctx.airsign.clone();
        let jobs = jobs.map(String::from);
        move || {
            let mut c = Command::new(&bin);
            c.arg("--store").arg(&store).arg("fsck");
            if let Some(j) = &jobs {
                c.args(["--jobs", j]);
            }
            c.env_remove("AIRSIGN_STORE");
            c
        }
    };
    let in_blobs = |prog: &Path, pre: &[&str]| {
        let (prog, pre, blobs, names) = (
            prog.to_path_buf(),
            pre.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            blobs.clone(),
            names.clone(),
        );
        move || {
            let mut c = Command::new(&prog);
            c.args(&pre).args(&names).current_dir(&blobs);
            c
        }
    };
    let openssl = "openssl dgst -sha256";
    let rows = vec![
        Row {
            tool: "airsign fsck".into(),
            result: measure(ctx, &airsign(None), &no_check),
        },
        Row {
            tool: "airsign fsck --jobs 1".into(),
            result: measure(ctx, &airsign(Some("1")), &no_check),
        },
        Row {
            tool: openssl.into(),
            result: measure(
                ctx,
                &in_blobs(&ctx.openssl, &["dgst", "-sha256"]),
                &expect_all(openssl_line),
            ),
        },
        Row {
            tool: "sha256sum".into(),
            result: measure(
                ctx,
                &in_blobs(Path::new("sha256sum"), &[]),
                &expect_all(sha256sum_line),
            ),
        },
    ];
    print_table(bytes, &rows, openssl);

    let mut outcome = Outcome {
        failed: rows.iter().any(|r| r.result.is_err()),
        ..Outcome::default()
    };
    let secs = |i: usize| rows[i].result.as_ref().ok().map(|m| m.best.as_secs_f64());
    let (fsck, base) = (secs(0), secs(2));
    let ratio = fsck.zip(base).map(|(f, o)| o / f);
    let rss_mib = rows[0]
        .result
        .as_ref()
        .ok()
        .and_then(|m| m.rss_kib)
        .map(|k| k as f64 / 1024.0);
    let speed_ok = ratio.map(|r| r >= 1.6);
    let rss_ok = rss_mib.map(|m| m < 64.0);
    println!(
        "\ntarget: airsign fsck >= 1.6x openssl: {} ({}); peak RSS < 64 MiB: {} ({})",
        ratio.map_or("-".into(), |r| format!("{r:.2}x")),
        verdict(speed_ok),
        rss_mib.map_or("-".into(), |m| format!("{m:.1} MiB")),
        verdict(rss_ok),
    );
    outcome.missed = speed_ok != Some(true) || rss_ok != Some(true);

    // A fast fsck must also be a real one: a flipped byte in the last (largest by
    // order) blob has to make it fail.
    if rows[0].result.is_ok() {
        let victim = files
            .iter()
            .max_by_key(|f| f.metadata().map(|m| m.len()).unwrap_or(0))
            .unwrap();
        flip_byte(victim);
        let caught = airsign(None)()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| !s.success());
        println!(
            "sanity: fsck fails on a corrupted blob: {}",
            if caught { "yes" } else { "NO" }
        );
        outcome.failed |= !caught;
    }
    outcome
}

/// Flips one byte in the middle of a file, in place.
fn flip_byte(path: &Path) {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mid = f.metadata().unwrap().len() / 2;
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(mid)).unwrap();
    f.read_exact(&mut b).unwrap();
    b[0] ^= 0xff;
    f.seek(SeekFrom::Start(mid)).unwrap();
    f.write_all(&b).unwrap();
}

// ---------------------------------------------------------------------------
// Section: sign

/// Images in the `sign` store at scale 1.
const SIGN_IMAGES: f64 = 10_000.0;
/// Images the real cosign signs, one process each against a registry: a few suffice
/// for a per-image figure.
const COSIGN_IMAGES: usize = 20;
const PASSWORD: &str = "bench-password";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Bytes of image references per `airsign verify` call, well below ARG_MAX (2 MiB
/// with the environment).
const MAX_ARG_BYTES: usize = 1 << 20;
/// A verify run slower than this is not repeated: best-of-N would only cost minutes.
const SLOW_RUN: Duration = Duration::from_secs(60);

/// A generated image: its full reference and manifest digest.
struct Image {
    reference: String,
    digest: String,
}

/// A store of `n` small single-platform images, as a mirror of many repositories
/// holds them: one shared layer, and per image its own config (hence its own
/// digest) and manifest, each index.json entry named by a full reference.
fn make_image_store(store: &Path, n: usize) -> Vec<Image> {
    let blobs = store.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(
        store.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let layer = write_random_blob(&blobs, 4096, &mut Prng(0x0516_a1a5), &mut buf);
    let desc = |mt: &str, b: &Blob| json!({"mediaType": mt, "digest": b.digest, "size": b.size});
    let mut entries = Vec::with_capacity(n);
    let mut images = Vec::with_capacity(n);
    for i in 0..n {
        let config = write_json_blob(
            &blobs,
            &json!({
                "created": "1970-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
                "config": {"Cmd": ["/bin/true"], "Labels": {"bench.image": i.to_string()}},
                "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
            }),
        );
        let manifest = write_json_blob(
            &blobs,
            &json!({
                "schemaVersion": 2, "mediaType": MT_MANIFEST,
                "config": desc("application/vnd.oci.image.config.v1+json", &config),
                "layers": [desc("application/vnd.oci.image.layer.v1.tar", &layer)],
            }),
        );
        let reference = format!("registry.example.com/bench/app{i}:v1");
        let mut d = desc(MT_MANIFEST, &manifest);
        d["annotations"] = json!({ REF_NAME: reference });
        entries.push(d);
        images.push(Image {
            reference,
            digest: manifest.digest,
        });
    }
    std::fs::write(
        store.join("index.json"),
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": entries}),
        )
        .unwrap(),
    )
    .unwrap();
    images
}

/// Regenerates `dir` as a store of `n` images and flushes it to disk, so that the
/// syncfs(2) of a timed `airsign sign` pays for its own writes only.
fn fresh_image_store(dir: &Path, n: usize) -> Vec<Image> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    let images = make_image_store(dir, n);
    let _ = Command::new("sync").arg("-f").arg(dir).status();
    images
}

/// `airsign --store STORE …` with the bench's key password and no user store.
fn airsign_in(ctx: &Ctx, store: &Path) -> Command {
    let mut c = Command::new(&ctx.airsign);
    c.arg("--store").arg(store);
    c.env_remove("AIRSIGN_STORE")
        .env("COSIGN_PASSWORD", PASSWORD);
    c
}

/// Runs an untimed helper command; its stdout, or `Err` with its stderr.
fn run_ok(cmd: &mut Command) -> Result<Vec<u8>, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

/// Best of `ctx.runs` runs of a command that changes what it works on:
/// `prepare(i)` sets up run i's own input and returns the command.
fn measure_fresh(
    ctx: &Ctx,
    prepare: &mut dyn FnMut(usize) -> Result<Command, String>,
) -> Result<Measure, String> {
    let mut best = Duration::MAX;
    let mut rss = None::<u64>;
    for i in 0..ctx.runs {
        let (took, _, peak) = run_timed(ctx, prepare(i)?)?;
        best = best.min(took);
        rss = rss.max(peak);
    }
    Ok(Measure { best, rss_kib: rss })
}

/// The sign section's same-run baseline: the blobs that `airsign sign --all` added to
/// `signed` (a store of `n` images), with its index.json, in a tar (untimed); each run
/// regenerates the unsigned store (untimed, flushed) and times `tar xf` of that tar
/// into it followed by `sync -f`: the same files written and made durable, without
/// the signing, hashing, verifying and renaming. Returns the best run and the number
/// of blob files.
fn sign_baseline(
    ctx: &Ctx,
    root: &Path,
    signed: &Path,
    n: usize,
) -> Result<(Measure, usize), String> {
    let names = |store: &Path| -> std::collections::BTreeSet<std::ffi::OsString> {
        std::fs::read_dir(store.join("blobs/sha256"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
            .unwrap_or_default()
    };
    let unsigned = root.join("baseline-src");
    fresh_image_store(&unsigned, n);
    let before = names(&unsigned);
    let _ = std::fs::remove_dir_all(&unsigned);
    let added: Vec<_> = names(signed)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    let list = root.join("baseline.list");
    let mut text = String::from("index.json\n");
    for f in &added {
        text.push_str(&format!("blobs/sha256/{}\n", f.to_string_lossy()));
    }
    std::fs::write(&list, text).map_err(|e| e.to_string())?;
    let archive = root.join("baseline.tar");
    run_ok(
        Command::new("tar")
            .arg("cf")
            .arg(&archive)
            .arg("-C")
            .arg(signed)
            .arg("-T")
            .arg(&list),
    )?;
    warm(std::slice::from_ref(&archive));
    let m = measure_fresh(ctx, &mut |i| {
        let dir = root.join(format!("baseline-{i}"));
        fresh_image_store(&dir, n);
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(r#"tar xf "$1" -C "$2" && sync -f "$2""#)
            .arg("sh")
            .arg(&archive)
            .arg(&dir);
        Ok(c)
    })?;
    Ok((m, added.len()))
}

/// Every image signed exactly once, and nothing else signed: `ls --json` must list
/// `n` images with `signatures: 1` and `n` `.sig` artifacts.
fn check_all_signed(ctx: &Ctx, store: &Path, n: usize) -> Result<(), String> {
    let out = run_ok(airsign_in(ctx, store).args(["ls", "--json"]))?;
    let entries: Vec<Value> =
        serde_json::from_slice(&out).map_err(|e| format!("ls --json: {e}"))?;
    let (mut images, mut sigs, mut bad) = (0, 0, Vec::new());
    for e in &entries {
        if e["artifact"] == json!(true) {
            sigs += 1;
        } else {
            images += 1;
            if e["signatures"] != json!(1) {
                bad.push(format!(
                    "{} has {} signatures",
                    e["reference"], e["signatures"]
                ));
            }
        }
    }
    if images != n || sigs != n || !bad.is_empty() {
        bad.truncate(5);
        return Err(format!(
            "after sign --all: {images} images (want {n}), {sigs} .sig artifacts (want {n}); {}",
            bad.join("; ")
        ));
    }
    Ok(())
}

/// Renames onto `index.json` during `airsign sign --all` (strace -f), with a fresh
/// inode afterwards as a cross-check. `Err` if strace is missing or not allowed.
fn count_index_renames(ctx: &Ctx, store: &Path, key: &Path) -> Result<usize, String> {
    let index = store.join("index.json");
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&p.metadata().unwrap());
    let before = inode(&index);
    let trace = store.with_extension("strace");
    let sign = airsign_in(ctx, store);
    let mut c = Command::new("strace");
    // --seccomp-bpf: only the traced calls stop the process, so tracing stays cheap
    c.args([
        "-f",
        "-qq",
        "--seccomp-bpf",
        "-e",
        "trace=rename,renameat,renameat2",
    ])
    .arg("-o")
    .arg(&trace)
    .arg(sign.get_program())
    .args(sign.get_args())
    .args(["sign", "--key"])
    .arg(key)
    .args(["--all", "-y"])
    .env_remove("AIRSIGN_STORE")
    .env("COSIGN_PASSWORD", PASSWORD)
    .stderr(Stdio::null());
    run_ok(&mut c)?;
    // `… rename("…/.airsign/tmp/index.json-…", "…/index.json") = 0`: the destination is
    // the last quoted string of a successful call.
    let renames = std::fs::read_to_string(&trace)
        .map_err(|e| e.to_string())?
        .lines()
        .filter(|l| l.trim_end().ends_with("= 0"))
        .filter(|l| {
            l.rsplit('"')
                .nth(1)
                .is_some_and(|dest| dest == "index.json" || dest.ends_with("/index.json"))
        })
        .count();
    if inode(&index) == before && renames > 0 {
        return Err("strace saw a rename, yet index.json has its old inode".into());
    }
    Ok(renames)
}

/// `openssl speed -seconds 2 ecdsap256`: (sign/s, verify/s) on one core.
fn openssl_ecdsa_speed(ctx: &Ctx) -> Result<(f64, f64), String> {
    let out = run_ok(Command::new(&ctx.openssl).args(["speed", "-seconds", "2", "ecdsap256"]))?;
    let text = String::from_utf8_lossy(&out);
    // " 256 bits ecdsa (nistp256)   0.0000s   0.0001s  51951.5  16766.7"
    let line = text
        .lines()
        .find(|l| l.contains("(nistp256)"))
        .ok_or_else(|| format!("no nistp256 line in openssl speed output:\n{text}"))?;
    let nums: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match nums[..] {
        [.., sign, verify] => Ok((sign, verify)),
        _ => Err(format!("odd openssl speed line {line:?}")),
    }
}

/// A loopback `docker-registry` (plain HTTP, storage in a temp dir) for cosign;
/// dropping it kills that one process, by pid.
struct Registry {
    child: std::process::Child,
    port: u16,
}

impl Registry {
    fn start(bin: &Path, dir: &Path) -> Result<Registry, String> {
        let mut log = String::new();
        'port: for _ in 0..5 {
            let port = std::net::TcpListener::bind(("127.0.0.1", 0))
                .and_then(|l| l.local_addr())
                .map_err(|e| format!("binding 127.0.0.1:0: {e}"))?
                .port();
            let config = dir.join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog: {{level: warn}}\n\
                     storage: {{filesystem: {{rootdirectory: '{}'}}}}\n\
                     http: {{addr: 127.0.0.1:{port}, secret: bench-{}}}\n",
                    dir.join("data").display(),
                    std::process::id()
                ),
            )
            .map_err(|e| e.to_string())?;
            let log_path = dir.join("registry.log");
            let log_file = File::create(&log_path).map_err(|e| e.to_string())?;
            let child = Command::new(bin)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
                .stderr(log_file)
                // its own process group: a ^C on the bench does not hit it mid-request
                .process_group(0)
                .spawn()
                .map_err(|e| format!("starting {}: {e}", bin.display()))?;
            let mut reg = Registry { child, port };
            let start = Instant::now();
            loop {
                if let Ok(Some(st)) = reg.child.try_wait() {
                    log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    if log.contains("address already in use") {
                        continue 'port;
                    }
                    return Err(format!("registry exited ({st}):\n{log}"));
                }
                if http_status(port, "/v2/") == Some(200) {
                    return Ok(reg);
                }
                if start.elapsed() > Duration::from_secs(20) {
                    return Err("registry: no 200 from /v2/ within 20s".into());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Err(format!("registry: no free port after 5 attempts:\n{log}"))
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // SIGKILL to exactly our child's pid, then reap it
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status of a plain-HTTP `GET PATH` on 127.0.0.1:PORT.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 32];
    let mut n = 0;
    while n < 12 {
        match s.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    // "HTTP/1.1 200 OK"
    String::from_utf8_lossy(&head[..n])
        .strip_prefix("HTTP/1.")?
        .get(2..5)?
        .parse()
        .ok()
}

/// Per-image seconds of signing one image per process: the real cosign against a
/// loopback registry, and airsign against the store.
struct PerImage {
    cosign: Measure,
    airsign: Measure,
}

/// Pushes `COSIGN_IMAGES` images to a loopback registry (untimed), then times
/// `cosign sign` on each by digest, and `airsign sign` on each in a store.
/// `Ok(None)`: a tool is missing.
fn cosign_per_image(ctx: &Ctx, tmp: &Path, key: &Path) -> Result<Option<PerImage>, String> {
    let (Some(cosign), Some(skopeo), Some(registry)) = (&ctx.cosign, &ctx.skopeo, &ctx.registry)
    else {
        return Ok(None);
    };
    let store = tmp.join("cosign-src");
    let images = fresh_image_store(&store, COSIGN_IMAGES);
    let reg_dir = tmp.join("registry");
    std::fs::create_dir_all(&reg_dir).map_err(|e| e.to_string())?;
    let reg = Registry::start(registry, &reg_dir)?;
    for (i, img) in images.iter().enumerate() {
        run_ok(
            Command::new(skopeo)
                .args(["--insecure-policy", "copy", "--quiet", "--preserve-digests"])
                .arg("--dest-tls-verify=false")
                .arg(format!("oci:{}:{}", store.display(), img.reference))
                .arg(format!("docker://{}/bench/img{i}:v1", reg.host())),
        )?;
    }
    let home = tmp.join("cosign-home");
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let sum = |cmds: Vec<Command>| -> Result<Measure, String> {
        let (mut total, mut rss) = (Duration::ZERO, None::<u64>);
        for c in cmds {
            let (took, _, peak) = run_timed(ctx, c)?;
            total += took;
            rss = rss.max(peak);
        }
        Ok(Measure {
            best: total / COSIGN_IMAGES as u32,
            rss_kib: rss,
        })
    };
    let cosign_cmds = images
        .iter()
        .enumerate()
        .map(|(i, img)| {
            let mut c = Command::new(cosign);
            c.args(["sign", "--key"])
                .arg(key)
                .args(["--tlog-upload=false", "--yes"])
                .arg(format!("{}/bench/img{i}@{}", reg.host(), img.digest))
                .env("HOME", &home)
                .env("COSIGN_PASSWORD", PASSWORD);
            c
        })
        .collect();
    let cosign = sum(cosign_cmds)?;
    drop(reg);
    let airsign_cmds = images
        .iter()
        .map(|img| {
            let mut c = airsign_in(ctx, &store);
            c.args(["sign", "-y", "--key"]).arg(key).arg(&img.reference);
            c
        })
        .collect();
    let airsign = sum(airsign_cmds)?;
    Ok(Some(PerImage { cosign, airsign }))
}

fn bench_sign(ctx: &Ctx) -> Outcome {
    let failed = Outcome {
        failed: true,
        ..Outcome::default()
    };
    let n = ((SIGN_IMAGES * ctx.scale).round() as usize).max(1);
    let tmp = tempfile::Builder::new()
        .prefix("bench-sign.")
        .tempdir_in(&ctx.work)
        .expect("bench temp dir");
    let prefix = tmp.path().join("cosign");
    if let Err(e) = run_ok(
        Command::new(&ctx.airsign)
            .arg("generate-key-pair")
            .arg("--output-key-prefix")
            .arg(&prefix)
            .env("COSIGN_PASSWORD", PASSWORD),
    ) {
        println!("generate-key-pair FAILED:\n{e}");
        return failed;
    }
    let (key, public) = (prefix.with_extension("key"), prefix.with_extension("pub"));

    // Signing changes the store (and would skip an equal signature on a second run):
    // every run gets a freshly generated one, the same each time.
    let store = tmp.path().join("store");
    let t = Instant::now();
    let images = fresh_image_store(&store, n);
    println!(
        "store: {n} images, {} blobs, in {} (generated in {:.1}s)",
        2 * n + 1,
        store.display(),
        t.elapsed().as_secs_f64()
    );
    match run_timed(ctx, {
        let mut c = airsign_in(ctx, &store);
        c.arg("fsck");
        c
    }) {
        Ok((took, _, _)) => println!(
            "airsign fsck: the generated store is valid ({:.2}s)",
            took.as_secs_f64()
        ),
        Err(e) => {
            println!("the generated store is not valid:\n{e}");
            return failed;
        }
    }
    let sign_cmd = |store: &Path| {
        let mut c = airsign_in(ctx, store);
        c.args(["sign", "--all", "-y", "--key"]).arg(&key);
        c
    };
    println!("timing (one process each, best of {}) ...\n", ctx.runs);
    // Each run signs its own copy in a new directory: deleting the last run's tens of
    // thousands of files just before a run would time ext4's inode allocator, which
    // skips recently deleted inodes (a scan the deletion, not airsign, causes).
    let sign = measure_fresh(ctx, &mut |i| {
        if i == 0 {
            return Ok(sign_cmd(&store));
        }
        let run_store = tmp.path().join(format!("store-{i}"));
        fresh_image_store(&run_store, n);
        Ok(sign_cmd(&run_store))
    });
    // One image: the fixed cost of a call (the password's scrypt KDF, N=65536, and
    // process start), which a bulk call pays once.
    let one = tmp.path().join("one");
    let single = measure_fresh(ctx, &mut |_| {
        fresh_image_store(&one, 1);
        Ok(sign_cmd(&one))
    });
    // The KDF alone: `public-key` decrypts the key and does nothing else of note.
    let kdf = measure(
        ctx,
        &|| {
            let mut c = airsign_in(ctx, &one);
            c.arg("public-key").arg("--key").arg(&key);
            c
        },
        &|_| Ok(()),
    );
    // A run that did not sign every image has no rate to speak of: it fails.
    let sign = sign.and_then(|m| check_all_signed(ctx, &store, n).map(|()| m));
    // The same-run baseline: the files that signing added (and index.json), written
    // into an identical unsigned store by `tar xf` and made durable by `sync -f`.
    let baseline = match &sign {
        Ok(_) => sign_baseline(ctx, tmp.path(), &store, n),
        Err(_) => Err("not run: the store is not signed".to_owned()),
    };

    // Verify every image in as few calls as ARG_MAX allows (one at 10,000 images).
    let mut chunks: Vec<Vec<&str>> = vec![Vec::new()];
    let mut bytes = 0;
    for img in &images {
        if bytes + img.reference.len() + 1 > MAX_ARG_BYTES {
            chunks.push(Vec::new());
            bytes = 0;
        }
        bytes += img.reference.len() + 1;
        chunks.last_mut().unwrap().push(&img.reference);
    }
    let verify = match &sign {
        Ok(_) => Ok(()),
        Err(_) => Err("not run: the store is not signed".to_owned()),
    }
    .and_then(|()| {
        let mut best = Duration::MAX;
        let mut rss = None::<u64>;
        for run in 0..ctx.runs {
            let mut took = Duration::ZERO;
            for chunk in &chunks {
                let mut c = airsign_in(ctx, &store);
                c.arg("verify").arg("--key").arg(&public).args(chunk);
                // The first run's output is checked; the others go to /dev/null.
                let (t, out, peak) = run_timed_to(ctx, c, run == 0)?;
                if run == 0 {
                    let arrays = String::from_utf8_lossy(&out)
                        .lines()
                        .filter(|l| l.starts_with("[{"))
                        .count();
                    if arrays != chunk.len() {
                        return Err(format!(
                            "verify printed {arrays} payload arrays for {} images",
                            chunk.len()
                        ));
                    }
                }
                took += t;
                rss = rss.max(peak);
            }
            best = best.min(took);
            if took > SLOW_RUN {
                println!("(verify took {:.0}s: not repeated)", took.as_secs_f64());
                break;
            }
        }
        Ok(Measure { best, rss_kib: rss })
    });
    let speed = openssl_ecdsa_speed(ctx);
    let renames = {
        let traced = tmp.path().join("traced");
        fresh_image_store(&traced, n);
        count_index_renames(ctx, &traced, &key)
    };
    let per_image = cosign_per_image(ctx, tmp.path(), &key);

    // The table: rates per second, against openssl's on one core.
    let rate = |m: &Result<Measure, String>, count: usize| {
        m.as_ref().ok().map(|m| count as f64 / m.best.as_secs_f64())
    };
    let (sign_rate, verify_rate) = (rate(&sign, n), rate(&verify, n));
    let (ossl_sign, ossl_verify) = match &speed {
        Ok((s, v)) => (Some(*s), Some(*v)),
        Err(_) => (None, None),
    };
    let mib = |k: Option<u64>| k.map(|k| k as f64 / 1024.0);
    let fmt_mib = |m: Option<f64>| m.map_or("-".into(), |m| format!("{m:.1} MiB"));
    println!(
        "{:<36} {:>6} {:>9} {:>10} {:>11} {:>12}",
        "tool", "images", "seconds", "per s", "vs openssl", "peak RSS"
    );
    // `base`: the openssl rate to compare with; `None` for a fixed cost, no rate.
    let row = |tool: &str, count: usize, m: &Result<Measure, String>, base: Option<Option<f64>>| {
        let Ok(m) = m else {
            println!("{tool:<36} {count:>6} {:>9}", "FAILED");
            return;
        };
        let per_s = count as f64 / m.best.as_secs_f64();
        println!(
            "{:<36} {:>6} {:>9.3} {:>10} {:>11} {:>12}",
            tool,
            count,
            m.best.as_secs_f64(),
            base.map_or("-".into(), |_| format!("{per_s:.1}")),
            base.flatten()
                .map_or("-".into(), |b| format!("{:.3}x", per_s / b)),
            fmt_mib(mib(m.rss_kib))
        );
    };
    row("airsign sign --all (one call)", n, &sign, Some(ossl_sign));
    row("airsign sign, 1 image (fixed cost)", 1, &single, None);
    row("  of which the KDF (public-key)", 1, &kdf, None);
    row(
        "airsign verify (all, one call)",
        n,
        &verify,
        Some(ossl_verify),
    );
    for (tool, v) in [
        ("openssl speed ecdsap256 sign", ossl_sign),
        ("openssl speed ecdsap256 verify", ossl_verify),
    ] {
        match v {
            Some(v) => println!(
                "{tool:<36} {:>6} {:>9} {v:>10.1} {:>11}",
                "-", "-", "1.000x"
            ),
            None => println!("{tool:<36} {:>6} {:>9}", "-", "FAILED"),
        }
    }
    if let Ok((m, files)) = &baseline {
        println!(
            "{:<36} {:>6} {:>9.3} {:>10.1} {:>11} {:>12}",
            "tar xf same files + sync -f",
            n,
            m.best.as_secs_f64(),
            n as f64 / m.best.as_secs_f64(),
            "-",
            fmt_mib(mib(m.rss_kib))
        );
        println!("  (baseline: the {files} files signing added, and index.json)");
    }
    if let (Ok(s), Ok(f)) = (&sign, &single) {
        let rest = s.best.saturating_sub(f.best).as_secs_f64();
        if n > 1 && rest > 0.0 {
            println!(
                "airsign sign without the fixed cost: {:.1} µs per signature ({:.0}/s)",
                rest * 1e6 / (n - 1) as f64,
                (n - 1) as f64 / rest
            );
        }
    }

    // cosign, one process per image against a registry; airsign the same way, and in bulk.
    let bulk_per_image = sign.as_ref().ok().map(|m| m.best.as_secs_f64() / n as f64);
    match &per_image {
        Ok(Some(p)) => {
            let (c, a) = (p.cosign.best.as_secs_f64(), p.airsign.best.as_secs_f64());
            println!(
                "\nper image ({COSIGN_IMAGES} images, one process each): cosign sign \
                 --tlog-upload=false (loopback registry) {c:.3}s, peak RSS {}; \
                 airsign sign (store) {a:.3}s, peak RSS {}",
                fmt_mib(mib(p.cosign.rss_kib)),
                fmt_mib(mib(p.airsign.rss_kib)),
            );
            println!(
                "cosign per image / airsign per image: {:.1}x one call per image, {} in one call",
                c / a,
                bulk_per_image.map_or("-".into(), |b| format!("{:.0}x", c / b))
            );
        }
        Ok(None) => println!(
            "\ncosign: not measured (AIRSIGN_TEST_COSIGN, _SKOPEO, _REGISTRY unset: run `make bench`)"
        ),
        Err(_) => println!("\ncosign: FAILED"),
    }

    for (what, r) in [
        ("airsign sign --all", sign.as_ref().err()),
        ("airsign sign (1 image)", single.as_ref().err()),
        ("airsign public-key", kdf.as_ref().err()),
        ("airsign verify", verify.as_ref().err()),
        ("openssl speed", speed.as_ref().err()),
        ("sign baseline (tar xf)", baseline.as_ref().err()),
        ("cosign", per_image.as_ref().err()),
    ] {
        if let Some(e) = r {
            println!("\n{what} FAILED:\n{e}");
        }
    }
    let mut outcome = Outcome {
        failed: sign.is_err()
            || single.is_err()
            || kdf.is_err()
            || verify.is_err()
            || speed.is_err()
            || baseline.is_err()
            || per_image.is_err(),
        ..Outcome::default()
    };

    let fmt_rate = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.0}/s"));
    let rss = [&sign, &verify]
        .iter()
        .map(|m| m.as_ref().ok().and_then(|m| mib(m.rss_kib)))
        .collect::<Option<Vec<f64>>>()
        .map(|v| v.into_iter().fold(0.0, f64::max));
    let sign_ok = sign_rate.map(|r| r >= 5000.0);
    let verify_ok = verify_rate.map(|r| r >= 3000.0);
    let rss_ok = rss.map(|m| m < 100.0);
    // strace is optional: without it the rename count is reported, not judged.
    let (renames_text, renames_ok) = match &renames {
        Ok(k) => (format!("{k} rename(s)"), Some(*k == 1)),
        Err(e) => (
            format!("not measured ({})", e.lines().next().unwrap_or("")),
            None,
        ),
    };
    println!(
        "\ntarget: sign >= 5000/s end to end: {} ({}); verify >= 3000/s: {} ({});\n        \
         index.json rewritten once per call: {renames_text} ({}); peak RSS < 100 MiB: {} ({})",
        fmt_rate(sign_rate),
        verdict(sign_ok),
        fmt_rate(verify_rate),
        verdict(verify_ok),
        renames_ok.map_or("not judged", |ok| verdict(Some(ok))),
        fmt_mib(rss),
        verdict(rss_ok),
    );
    // Signing against writing the same files: airsign's time over the baseline's.
    let vs_baseline = sign
        .as_ref()
        .ok()
        .zip(baseline.as_ref().ok())
        .map(|(s, (b, _))| s.best.as_secs_f64() / b.best.as_secs_f64());
    let baseline_ok = vs_baseline.map(|r| r <= 1.3);
    println!(
        "target: sign time <= 1.3x the baseline's (tar xf of the same files + sync -f): \
         {} ({})",
        vs_baseline.map_or("-".into(), |r| format!("{r:.2}x")),
        verdict(baseline_ok),
    );
    outcome.missed = sign_ok != Some(true)
        || baseline_ok != Some(true)
        || verify_ok != Some(true)
        || rss_ok != Some(true)
        || renames_ok == Some(false);
    outcome
}

// ---------------------------------------------------------------------------
// Section: export

/// A signed store of about `scale` × 2 GiB for export: 200 images in 20 repositories,
/// each on one of 10 shared 48 MiB base layers, with its own 2–12 MiB layer and two
/// 1–256 KiB ones; every image then signed with `airsign sign --all`. Returns the
/// store, its blob bytes and the image references.
fn make_export_store(ctx: &Ctx, root: &Path, scale: f64) -> (PathBuf, u64, Vec<String>) {
    let store = root.join("store");
    let blobs = store.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(
        store.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let n = |count: u64| ((count as f64 * scale).round() as u64).max(1);
    let mut rng = Prng(0xe4b0_57a7);
    let mut buf = vec![0u8; MIB as usize];
    let base: Vec<Blob> = (0..n(10))
        .map(|_| write_random_blob(&blobs, 48 * MIB, &mut rng, &mut buf))
        .collect();
    let desc = |mt: &str, b: &Blob| json!({"mediaType": mt, "digest": b.digest, "size": b.size});
    let layer = "application/vnd.oci.image.layer.v1.tar";
    let (mut entries, mut refs) = (Vec::new(), Vec::new());
    for i in 0..n(200) {
        let own = [
            2 * MIB + rng.next() % (10 * MIB),
            1024 + rng.next() % (255 * 1024),
            1024 + rng.next() % (255 * 1024),
        ];
        let mut layers = vec![base[(i % base.len() as u64) as usize].clone()];
        layers.extend(
            own.iter()
                .map(|&sz| write_random_blob(&blobs, sz, &mut rng, &mut buf)),
        );
        let config = write_json_blob(
            &blobs,
            &json!({
                "created": "1970-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
                "config": {"Cmd": [format!("/bin/app{i}")]},
                "rootfs": {"type": "layers",
                           "diff_ids": layers.iter().map(|b| b.digest.clone()).collect::<Vec<_>>()},
            }),
        );
        let manifest = write_json_blob(
            &blobs,
            &json!({
                "schemaVersion": 2, "mediaType": MT_MANIFEST,
                "config": desc("application/vnd.oci.image.config.v1+json", &config),
                "layers": layers.iter().map(|b| desc(layer, b)).collect::<Vec<_>>(),
            }),
        );
        let name = format!("bench.example.com/export/app{}:v{i}", i % 20);
        let mut d = desc(MT_MANIFEST, &manifest);
        d["annotations"] = json!({"org.opencontainers.image.ref.name": name});
        entries.push(d);
        refs.push(name);
    }
    std::fs::write(
        store.join("index.json"),
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": entries}),
        )
        .unwrap(),
    )
    .unwrap();
    // Sign every image, so the export carries signatures as a real one does.
    let key = root.join("k");
    for args in [
        vec![
            "generate-key-pair".to_string(),
            "--output-key-prefix".into(),
            key.display().to_string(),
        ],
        vec![
            "sign".into(),
            "--all".into(),
            "-y".into(),
            "--key".into(),
            key.with_extension("key").display().to_string(),
        ],
    ] {
        let out = Command::new(&ctx.airsign)
            .arg("--store")
            .arg(&store)
            .args(&args)
            .env("COSIGN_PASSWORD", "bench")
            .env_remove("AIRSIGN_STORE")
            .stdin(Stdio::null())
            .output()
            .expect("running airsign");
        assert!(
            out.status.success(),
            "airsign {}: {}",
            args[0],
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let bytes = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    (store, bytes, refs)
}

/// Flushes what earlier runs left dirty, so that no run pays for another's writeback.
fn settle() {
    let _ = Command::new("sync").status();
}

fn bench_export(ctx: &Ctx) -> Outcome {
    let tmp = tempfile::Builder::new()
        .prefix("bench-export.")
        .tempdir_in(&ctx.work)
        .expect("bench temp dir");
    let t = Instant::now();
    let (store, bytes, refs) = make_export_store(ctx, tmp.path(), ctx.scale);
    let blobs = store.join("blobs/sha256");
    let files: Vec<PathBuf> = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    println!(
        "store: {} images (signed), {} blobs, {:.1} MB ({:.2} GiB) in {} (made in {:.1}s)",
        refs.len(),
        files.len(),
        bytes as f64 / 1e6,
        bytes as f64 / (1u64 << 30) as f64,
        store.display(),
        t.elapsed().as_secs_f64()
    );
    warm(&files);
    // tmpfs takes the disk out of the comparison: what is left is the work each
    // tool does (airsign: hashing every blob); on disk, airsign also waits for the
    // archive to be durable (fsync), so `tar cf` + `sync FILE` is the like-for-like.
    let shm = Path::new("/dev/shm");
    let shm_dir = (shm.is_dir())
        .then(|| {
            tempfile::Builder::new()
                .prefix("airsign-bench.")
                .tempdir_in(shm)
                .ok()
        })
        .flatten();
    let disk = tmp.path().join("out");
    std::fs::create_dir(&disk).unwrap();

    let airsign_export = |dest: PathBuf, args: Vec<String>| {
        let (bin, store) = (ctx.airsign.clone(), store.clone());
        move || {
            let _ = std::fs::remove_file(&dest);
            settle();
            let mut c = Command::new(&bin);
            c.arg("--store").arg(&store).arg("export").args(&args);
            c.arg("--to")
                .arg(format!("oci-archive:{}", dest.display()))
                .env_remove("AIRSIGN_STORE");
            c
        }
    };
    let tar_cf = |dest: PathBuf, sync: bool| {
        let store = store.clone();
        move || {
            let _ = std::fs::remove_file(&dest);
            settle();
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(if sync {
                    r#"tar cf "$1" -C "$2" oci-layout index.json blobs && sync "$1""#
                } else {
                    r#"tar cf "$1" -C "$2" oci-layout index.json blobs"#
                })
                .arg("sh")
                .arg(&dest)
                .arg(&store);
            c
        }
    };
    let all = || vec!["--all".to_string()];
    let no_check = |_: &[u8]| Ok(());
    let mut rows = vec![
        Row {
            tool: "airsign export --all (disk)".into(),
            result: measure(ctx, &airsign_export(disk.join("a.tar"), all()), &no_check),
        },
        Row {
            tool: "tar cf (disk)".into(),
            result: measure(ctx, &tar_cf(disk.join("t.tar"), false), &no_check),
        },
        Row {
            tool: "tar cf + sync FILE (disk)".into(),
            result: measure(ctx, &tar_cf(disk.join("t.tar"), true), &no_check),
        },
    ];
    if let Some(shm) = &shm_dir {
        rows.push(Row {
            tool: "airsign export --all (tmpfs)".into(),
            result: measure(
                ctx,
                &airsign_export(shm.path().join("a.tar"), all()),
                &no_check,
            ),
        });
        rows.push(Row {
            tool: "tar cf (tmpfs)".into(),
            result: measure(ctx, &tar_cf(shm.path().join("t.tar"), false), &no_check),
        });
        let _ = std::fs::remove_file(shm.path().join("t.tar"));
    }
    print_table(bytes, &rows, "tar cf (disk)");
    let archive_len = std::fs::metadata(disk.join("a.tar")).map_or(0, |m| m.len());
    let tar_len = std::fs::metadata(disk.join("t.tar")).map_or(0, |m| m.len());
    println!(
        "archive sizes: airsign {:.1} MB, tar {:.1} MB",
        archive_len as f64 / 1e6,
        tar_len as f64 / 1e6
    );
    // a.tar (the last timed export) stays: the import below reads it.
    let _ = std::fs::remove_file(disk.join("t.tar"));

    // One image: airsign export against skopeo copy to an oci-archive.
    let one = &refs[refs.len() / 2];
    let one_bytes = {
        let dest = disk.join("probe.tar");
        let out = airsign_export(dest.clone(), vec![one.clone(), "--json".into()])()
            .output()
            .expect("airsign export");
        let _ = std::fs::remove_file(&dest);
        serde_json::from_slice::<Value>(&out.stdout)
            .ok()
            .and_then(|v| v["bytes"].as_u64())
            .unwrap_or(0)
    };
    let mut one_rows = vec![Row {
        tool: "airsign export IMAGE".into(),
        result: measure(
            ctx,
            &airsign_export(disk.join("one.tar"), vec![one.clone()]),
            &no_check,
        ),
    }];
    match std::env::var_os("AIRSIGN_TEST_SKOPEO").map(PathBuf::from) {
        Some(skopeo) if skopeo.is_file() => {
            let (store, dest, one) = (store.clone(), disk.join("sk.tar"), one.clone());
            let cmd = move || {
                let _ = std::fs::remove_file(&dest);
                settle();
                let mut c = Command::new(&skopeo);
                c.args(["--insecure-policy", "copy", "--quiet"])
                    .arg(format!("oci:{}:{one}", store.display()))
                    .arg(format!("oci-archive:{}:{one}", dest.display()));
                c
            };
            one_rows.push(Row {
                tool: "skopeo copy oci: oci-archive:".into(),
                result: measure(ctx, &cmd, &no_check),
            });
        }
        _ => println!("(no skopeo: AIRSIGN_TEST_SKOPEO not set; run `make bench`)"),
    }
    println!(
        "\none image ({one}, {:.1} MB with its signature):",
        one_bytes as f64 / 1e6
    );
    print_table(one_bytes, &one_rows, "skopeo copy oci: oci-archive:");
    let _ = std::fs::remove_file(disk.join("sk.tar"));

    // The other side of the gap: import of the archive just written (and of the
    // one-image archive) into fresh stores, against tar xf / skopeo.
    let imported = bench_import(
        ctx,
        tmp.path(),
        shm_dir.as_ref().map(|d| d.path()),
        &disk.join("a.tar"),
        &disk.join("one.tar"),
        one,
        one_bytes,
        refs.len(),
    );
    for f in ["a.tar", "one.tar"] {
        let _ = std::fs::remove_file(disk.join(f));
    }
    let zstd = bench_zstd(
        ctx,
        tmp.path(),
        shm_dir.as_ref().map(|d| d.path()),
        &store,
        bytes,
        refs.len(),
    );

    let mut outcome = Outcome {
        failed: imported.failed
            || zstd.failed
            || rows.iter().chain(&one_rows).any(|r| r.result.is_err()),
        missed: imported.missed || zstd.missed,
    };
    let secs = |name: &str| {
        rows.iter()
            .find(|r| r.tool == name)
            .and_then(|r| r.result.as_ref().ok())
            .map(|m| m.best.as_secs_f64())
    };
    let ratio = |ours: &str, theirs: &str| secs(ours).zip(secs(theirs)).map(|(a, b)| b / a);
    let durable = ratio("airsign export --all (disk)", "tar cf + sync FILE (disk)");
    let plain_disk = ratio("airsign export --all (disk)", "tar cf (disk)");
    let cpu = ratio("airsign export --all (tmpfs)", "tar cf (tmpfs)");
    let rss_mib = airsign_rss_mib(&rows);
    // On tmpfs the ratio is the cost of the work itself; on disk, the like-for-like
    // baseline is a durable tar (airsign fsyncs its archive before renaming it).
    let speed_ok = match (cpu, durable) {
        (Some(c), Some(d)) => Some(c >= 0.8 && d >= 0.8),
        (None, Some(d)) => Some(d >= 0.8),
        _ => None,
    };
    let rss_ok = rss_mib.map(|m| m < 64.0);
    println!(
        "\ntarget: export >= 0.8x tar: tmpfs {}, disk vs tar+sync {}: {} (disk vs plain tar cf, \
         which leaves its archive in the page cache: {}); peak RSS < 64 MiB: {} ({})",
        show_ratio(cpu),
        show_ratio(durable),
        verdict(speed_ok),
        show_ratio(plain_disk),
        rss_mib.map_or("-".into(), |m| format!("{m:.1} MiB")),
        verdict(rss_ok),
    );
    outcome.missed |= speed_ok != Some(true) || rss_ok != Some(true);

    // A fast export must be an honest one: a flipped byte in the largest blob makes
    // it fail, and leaves no file behind.
    if rows[0].result.is_ok() {
        let victim = files
            .iter()
            .max_by_key(|f| f.metadata().map(|m| m.len()).unwrap_or(0))
            .unwrap();
        flip_byte(victim);
        let dest = disk.join("corrupt.tar");
        let caught = airsign_export(dest.clone(), all())()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| !s.success());
        let clean = std::fs::read_dir(&disk).is_ok_and(|d| d.count() == 0);
        println!(
            "sanity: export fails on a corrupted blob: {}; nothing left behind: {}",
            if caught { "yes" } else { "NO" },
            if clean { "yes" } else { "NO" }
        );
        outcome.failed |= !caught || !clean;
    }
    outcome
}

/// zstd both ways, each against the tools' pipe on the same store in the same run:
/// `airsign export --all --compress zstd` (libzstd, level 3, one worker per core)
/// against `tar cf - … | zstd -T0 -3` (followed by `sync FILE` on disk: airsign
/// fsyncs its archive), then `airsign import` of airsign's .tar.zst into a fresh store
/// against `zstd -d -c … | tar xf -` (followed by `sync -f DIR` on disk: airsign's
/// commit is one syncfs). On disk and, when there is one, on tmpfs. Target: both
/// ratios >= 0.9x on disk, the like-for-like durable comparison; tmpfs, where only the
/// CPU work is left (airsign also hashes every blob), is shown beside them.
fn bench_zstd(
    ctx: &Ctx,
    root: &Path,
    shm: Option<&Path>,
    store: &Path,
    bytes: u64,
    images: usize,
) -> Outcome {
    let mut outcome = Outcome::default();
    let zstd = std::env::var_os("AIRSIGN_TEST_ZSTD")
        .map(PathBuf::from)
        .unwrap_or_else(|| "zstd".into());
    if run_ok(Command::new(&zstd).arg("--version")).is_err() {
        println!(
            "
zstd: no zstd tool to compare with (make tools installs it)"
        );
        outcome.missed = true;
        return outcome;
    }
    let disk = root.join("zstd");
    std::fs::create_dir(&disk).unwrap();
    let airsign_export = |dest: PathBuf| {
        move || {
            let _ = std::fs::remove_file(&dest);
            settle();
            let mut c = airsign_in(ctx, store);
            c.args(["export", "--all", "--compress", "zstd", "--to"])
                .arg(format!("oci-archive:{}", dest.display()));
            c
        }
    };
    let tar_zstd = |dest: PathBuf, sync: bool| {
        let zstd = zstd.clone();
        move || {
            let _ = std::fs::remove_file(&dest);
            settle();
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(if sync {
                    r#"tar cf - -C "$2" oci-layout index.json blobs | "$3" -T0 -3 -q -o "$1" && sync "$1""#
                } else {
                    r#"tar cf - -C "$2" oci-layout index.json blobs | "$3" -T0 -3 -q -o "$1""#
                })
                .arg("sh")
                .arg(&dest)
                .arg(store)
                .arg(&zstd);
            c
        }
    };
    let no_check = |_: &[u8]| Ok(());
    let ours = disk.join("a.tar.zst");
    let mut rows = vec![
        Row {
            tool: "airsign export zstd (disk)".into(),
            result: measure(ctx, &airsign_export(ours.clone()), &no_check),
        },
        Row {
            tool: "tar|zstd -T0 -3 + sync (disk)".into(),
            result: measure(ctx, &tar_zstd(disk.join("t.tar.zst"), true), &no_check),
        },
    ];
    if let Some(shm) = shm {
        rows.push(Row {
            tool: "airsign export zstd (tmpfs)".into(),
            result: measure(ctx, &airsign_export(shm.join("a.tar.zst")), &no_check),
        });
        rows.push(Row {
            tool: "tar|zstd -T0 -3 (tmpfs)".into(),
            result: measure(ctx, &tar_zstd(shm.join("t.tar.zst"), false), &no_check),
        });
        for f in ["a.tar.zst", "t.tar.zst"] {
            let _ = std::fs::remove_file(shm.join(f));
        }
    }
    println!(
        "
export --compress zstd of the same store, against tar | zstd -T0 -3:"
    );
    print_table(bytes, &rows, "tar|zstd -T0 -3 + sync (disk)");
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    println!(
        "compressed sizes: airsign {:.1} MB, tar | zstd {:.1} MB",
        size(&ours) as f64 / 1e6,
        size(&disk.join("t.tar.zst")) as f64 / 1e6
    );
    let _ = std::fs::remove_file(disk.join("t.tar.zst"));

    // Import of airsign's .tar.zst (the tools' pipe reads the same file).
    warm(std::slice::from_ref(&ours));
    let src = format!("oci-archive:{}", ours.display());
    let import_into = |dir: &Path| -> Result<Command, String> {
        run_ok(airsign_in(ctx, dir).args(["store", "init"]))?;
        settle();
        let mut c = airsign_in(ctx, dir);
        c.args(["import", "--json", &src]);
        Ok(c)
    };
    let unzstd_tar = |dir: &Path, sync: bool| -> Result<Command, String> {
        std::fs::create_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        settle();
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(if sync {
                r#""$3" -d -c -q "$1" | tar xf - -C "$2" && sync -f "$2""#
            } else {
                r#""$3" -d -c -q "$1" | tar xf - -C "$2""#
            })
            .arg("sh")
            .arg(&ours)
            .arg(dir)
            .arg(&zstd);
        Ok(c)
    };
    // A new directory per run; on tmpfs the previous run's goes first (see bench_import).
    let fresh = |base: &Path, name: &str, i: usize, reuse: bool| -> PathBuf {
        if reuse && i > 0 {
            let _ = std::fs::remove_dir_all(base.join(format!("{name}-{}", i - 1)));
        }
        base.join(format!("{name}-{i}"))
    };
    let mut irows = vec![
        Row {
            tool: "airsign import .tar.zst (disk)".into(),
            result: measure_fresh(ctx, &mut |i| {
                import_into(&fresh(&disk, "airsign", i, false))
            }),
        },
        Row {
            tool: "zstd -d|tar xf + sync (disk)".into(),
            result: measure_fresh(ctx, &mut |i| {
                unzstd_tar(&fresh(&disk, "tar", i, false), true)
            }),
        },
    ];
    if let Some(shm) = shm {
        irows.push(Row {
            tool: "airsign import .tar.zst (tmpfs)".into(),
            result: measure_fresh(ctx, &mut |i| import_into(&fresh(shm, "zairsign", i, true))),
        });
        let _ = std::fs::remove_dir_all(shm.join(format!("zairsign-{}", ctx.runs - 1)));
        irows.push(Row {
            tool: "zstd -d|tar xf (tmpfs)".into(),
            result: measure_fresh(ctx, &mut |i| {
                unzstd_tar(&fresh(shm, "ztar", i, true), false)
            }),
        });
        let _ = std::fs::remove_dir_all(shm.join(format!("ztar-{}", ctx.runs - 1)));
    }
    println!(
        "
import of that .tar.zst ({:.1} MB) into a fresh empty store, against zstd -d | tar xf:",
        size(&ours) as f64 / 1e6
    );
    print_table(bytes, &irows, "zstd -d|tar xf + sync (disk)");
    // Untimed: the import took every image, and the store is whole.
    let first = disk.join("airsign-0");
    let listed = run_ok(airsign_in(ctx, &first).args(["ls", "--json"])).and_then(|out| {
        let v: Vec<Value> = serde_json::from_slice(&out).map_err(|e| e.to_string())?;
        let got = v.iter().filter(|e| e["artifact"] != json!(true)).count();
        (got == images)
            .then_some(())
            .ok_or(format!("{got} images imported, expected {images}"))
    });
    let fsck = listed.and_then(|()| run_ok(airsign_in(ctx, &first).arg("fsck")).map(|_| ()));
    println!(
        "imported .tar.zst store: {}",
        match &fsck {
            Ok(()) => "every image, fsck clean".to_string(),
            Err(e) => format!(
                "FAILED
{e}"
            ),
        }
    );
    let _ = std::fs::remove_dir_all(&disk);
    outcome.failed = fsck.is_err() || rows.iter().chain(&irows).any(|r| r.result.is_err());

    let secs = |rows: &[Row], name: &str| {
        rows.iter()
            .find(|r| r.tool == name)
            .and_then(|r| r.result.as_ref().ok())
            .map(|m| m.best.as_secs_f64())
    };
    let ratio = |rows: &[Row], ours: &str, theirs: &str| {
        secs(rows, ours).zip(secs(rows, theirs)).map(|(a, b)| b / a)
    };
    let export_disk = ratio(
        &rows,
        "airsign export zstd (disk)",
        "tar|zstd -T0 -3 + sync (disk)",
    );
    let export_tmpfs = ratio(
        &rows,
        "airsign export zstd (tmpfs)",
        "tar|zstd -T0 -3 (tmpfs)",
    );
    let import_disk = ratio(
        &irows,
        "airsign import .tar.zst (disk)",
        "zstd -d|tar xf + sync (disk)",
    );
    let import_tmpfs = ratio(
        &irows,
        "airsign import .tar.zst (tmpfs)",
        "zstd -d|tar xf (tmpfs)",
    );
    let ok = export_disk
        .zip(import_disk)
        .map(|(e, i)| e >= 0.9 && i >= 0.9);
    let rss_mib = airsign_rss_mib(rows.iter().chain(&irows));
    println!(
        "\ntarget: zstd >= 0.9x the tools (throughput; on disk, both durable): \
         export vs tar|zstd -T0 -3+sync {}, import vs zstd -d|tar x+sync {}: {} \
         (tmpfs: export {}, import {}); airsign peak RSS {}",
        show_ratio(export_disk),
        show_ratio(import_disk),
        verdict(ok),
        show_ratio(export_tmpfs),
        show_ratio(import_tmpfs),
        rss_mib.map_or("-".into(), |m| format!("{m:.1} MiB")),
    );
    outcome.missed = ok != Some(true);
    outcome
}

/// `airsign import oci-archive:ARCHIVE` into a fresh empty store, against `tar xf
/// ARCHIVE -C DIR` (plain, and followed by `sync -f DIR`: airsign's commit makes the
/// imported blobs durable with one syncfs), on disk and on tmpfs; then the one-image
/// archive against `skopeo copy oci-archive:ONE:REF oci:DIR:REF`. Every timed run
/// writes into a directory of its own: on disk, deleting the previous run's files just
/// before a run would time ext4's inode allocator skipping recently deleted inodes
/// (see the sign section), so the disk runs' directories go only at the end. After
/// the runs, the first imported store must fsck clean (untimed).
#[allow(clippy::too_many_arguments)]
fn bench_import(
    ctx: &Ctx,
    root: &Path,
    shm: Option<&Path>,
    archive: &Path,
    one_archive: &Path,
    one: &str,
    one_bytes: u64,
    images: usize,
) -> Outcome {
    let mut outcome = Outcome::default();
    let archive_len = match std::fs::metadata(archive) {
        Ok(m) => m.len(),
        Err(e) => {
            println!(
                "\nimport: no archive to import ({}: {e})",
                archive.display()
            );
            outcome.failed = true;
            return outcome;
        }
    };
    // The archive is read from the page cache by every tool, as the store was above.
    warm(&[archive.to_path_buf(), one_archive.to_path_buf()]);
    let disk = root.join("import");
    std::fs::create_dir(&disk).unwrap();
    let src = format!("oci-archive:{}", archive.display());

    // A fresh empty store at `dir` (untimed), flushed, and the import command.
    let import_into = |dir: &Path, src: &str| -> Result<Command, String> {
        run_ok(airsign_in(ctx, dir).args(["store", "init"]))?;
        settle();
        let mut c = airsign_in(ctx, dir);
        c.args(["import", "--json", src]);
        Ok(c)
    };
    // A new directory per run under `base`; on tmpfs (`reuse`) the previous one is
    // removed first, which costs nothing there and keeps memory in check.
    let fresh_dir = |base: &Path, name: &str, i: usize, reuse: bool| -> PathBuf {
        if reuse && i > 0 {
            let _ = std::fs::remove_dir_all(base.join(format!("{name}-{}", i - 1)));
        }
        base.join(format!("{name}-{i}"))
    };
    let tar_xf = |dir: &Path, sync: bool| -> Result<Command, String> {
        std::fs::create_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        settle();
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(if sync {
                r#"tar xf "$1" -C "$2" && sync -f "$2""#
            } else {
                r#"tar xf "$1" -C "$2""#
            })
            .arg("sh")
            .arg(archive)
            .arg(dir);
        Ok(c)
    };
    // The first run's summary must list every image, each with its signature.
    let check_summary = |store: &Path| -> Result<(), String> {
        let out = run_ok(airsign_in(ctx, store).args(["ls", "--json"]))?;
        let entries: Vec<Value> =
            serde_json::from_slice(&out).map_err(|e| format!("ls --json: {e}"))?;
        let signed = entries
            .iter()
            .filter(|e| e["artifact"] != json!(true) && e["signatures"] == json!(1))
            .count();
        if signed != images {
            return Err(format!(
                "imported store lists {signed} signed images, expected {images}"
            ));
        }
        Ok(())
    };

    let mut rows = Vec::new();
    let first_store = disk.join("airsign-0");
    let result = measure_fresh(ctx, &mut |i| {
        import_into(&fresh_dir(&disk, "airsign", i, false), &src)
    })
    .and_then(|m| check_summary(&first_store).map(|()| m));
    rows.push(Row {
        tool: "airsign import (disk)".into(),
        result,
    });
    rows.push(Row {
        tool: "tar xf (disk)".into(),
        result: measure_fresh(ctx, &mut |i| {
            tar_xf(&fresh_dir(&disk, "tar", i, false), false)
        }),
    });
    rows.push(Row {
        tool: "tar xf + sync -f DIR (disk)".into(),
        result: measure_fresh(ctx, &mut |i| {
            tar_xf(&fresh_dir(&disk, "tarsync", i, false), true)
        }),
    });
    if let Some(shm) = shm {
        rows.push(Row {
            tool: "airsign import (tmpfs)".into(),
            result: measure_fresh(ctx, &mut |i| {
                import_into(&fresh_dir(shm, "airsign", i, true), &src)
            }),
        });
        let _ = std::fs::remove_dir_all(shm.join(format!("airsign-{}", ctx.runs - 1)));
        rows.push(Row {
            tool: "tar xf (tmpfs)".into(),
            result: measure_fresh(ctx, &mut |i| tar_xf(&fresh_dir(shm, "tar", i, true), false)),
        });
        let _ = std::fs::remove_dir_all(shm.join(format!("tar-{}", ctx.runs - 1)));
    }
    println!(
        "\nimport of that archive ({:.1} MB) into a fresh empty store, against extracting it:",
        archive_len as f64 / 1e6
    );
    print_table(archive_len, &rows, "tar xf (disk)");

    // Untimed: the imported store is whole, every blob re-hashed by fsck.
    let fsck = run_ok(airsign_in(ctx, &first_store).arg("fsck"));
    println!(
        "imported store fsck: {}",
        match &fsck {
            Ok(_) => "clean".to_string(),
            Err(e) => format!("FAILED\n{e}"),
        }
    );
    outcome.failed |= fsck.is_err() || rows.iter().any(|r| r.result.is_err());

    // One image: its own archive (from the export above), into a fresh store, against
    // skopeo copy of the same archive to a fresh layout.
    let one_src = format!("oci-archive:{}", one_archive.display());
    let mut one_rows = vec![Row {
        tool: "airsign import ONE.tar".into(),
        result: measure_fresh(ctx, &mut |i| {
            import_into(&fresh_dir(&disk, "one", i, false), &one_src)
        }),
    }];
    if let Some(skopeo) = &ctx.skopeo {
        one_rows.push(Row {
            tool: "skopeo copy oci-archive: oci:".into(),
            result: measure_fresh(ctx, &mut |i| {
                let dir = fresh_dir(&disk, "skopeo", i, false);
                settle();
                let mut c = Command::new(skopeo);
                c.args(["--insecure-policy", "copy", "--quiet"])
                    .arg(format!("oci-archive:{}:{one}", one_archive.display()))
                    .arg(format!("oci:{}:{one}", dir.display()));
                Ok(c)
            }),
        });
    }
    println!(
        "\nimport of one image ({one}, {:.1} MB with its signature; skopeo copies the image only):",
        one_bytes as f64 / 1e6
    );
    print_table(one_bytes, &one_rows, "skopeo copy oci-archive: oci:");
    outcome.failed |= one_rows.iter().any(|r| r.result.is_err());

    let secs = |name: &str| {
        rows.iter()
            .find(|r| r.tool == name)
            .and_then(|r| r.result.as_ref().ok())
            .map(|m| m.best.as_secs_f64())
    };
    let ratio = |ours: &str, theirs: &str| secs(ours).zip(secs(theirs)).map(|(a, b)| b / a);
    let durable = ratio("airsign import (disk)", "tar xf + sync -f DIR (disk)");
    let plain_disk = ratio("airsign import (disk)", "tar xf (disk)");
    let cpu = ratio("airsign import (tmpfs)", "tar xf (tmpfs)");
    let rss_mib = airsign_rss_mib(rows.iter().chain(&one_rows));
    let speed_ok = match (cpu, durable) {
        (Some(c), Some(d)) => Some(c >= 0.8 && d >= 0.8),
        (None, Some(d)) => Some(d >= 0.8),
        _ => None,
    };
    let rss_ok = rss_mib.map(|m| m < 64.0);
    println!(
        "\ntarget: import >= 0.8x tar xf: tmpfs {}, disk vs tar xf+sync {}: {} (disk vs plain \
         tar xf, which leaves its files in the page cache: {}); peak RSS < 64 MiB: {} ({})",
        show_ratio(cpu),
        show_ratio(durable),
        verdict(speed_ok),
        show_ratio(plain_disk),
        rss_mib.map_or("-".into(), |m| format!("{m:.1} MiB")),
        verdict(rss_ok),
    );
    outcome.missed = speed_ok != Some(true) || rss_ok != Some(true);
    outcome
}

// ---------------------------------------------------------------------------
// Section: sync

/// Images of the cold `sync` store at scale 1 (about 300 MB of blobs).
const SYNC_IMAGES: f64 = 50.0;
/// Groups of images sharing one chain of base layers of these sizes.
const SYNC_GROUPS: usize = 4;
const SYNC_BASE_LAYERS: [u64; 3] = [40 * MIB, 20 * MIB, 10 * MIB];
/// Repositories the cold store's images are spread over (several tags each, and
/// base layers shared across repositories, so cross-repository mounts matter).
const SYNC_REPOS: usize = 10;
/// Image tags of the warm resync at scale 1, and how many tags name each digest.
const WARM_TAGS: f64 = 1000.0;
const WARM_TAGS_PER_DIGEST: usize = 4;
/// Repositories the warm store's digests are spread over.
const WARM_REPOS: usize = 50;

/// An image of a sync store: its full reference and manifest digest.
struct SyncImage {
    reference: String,
    digest: String,
}

impl SyncImage {
    /// The repository (host included) and the cosign `.sig` tag of the digest.
    fn sig_reference(&self) -> String {
        let repo = self.reference.rsplit_once(':').map_or("", |(r, _)| r);
        format!("{repo}:{}.sig", self.digest.replacen(':', "-", 1))
    }
}

/// Writes `index.json` listing `entries` and the `oci-layout` marker.
fn write_index(store: &Path, entries: Vec<Value>) {
    std::fs::write(
        store.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(
        store.join("index.json"),
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": entries}),
        )
        .unwrap(),
    )
    .unwrap();
}

/// One single-platform image manifest over `layers` with its own config (so its own
/// digest, told apart by `label`), tagged `reference` in the returned index entry.
fn write_image(blobs: &Path, layers: &[Blob], label: &str, reference: &str) -> (Value, String) {
    let desc = |mt: &str, b: &Blob| json!({"mediaType": mt, "digest": b.digest, "size": b.size});
    let config = write_json_blob(
        blobs,
        &json!({
            "created": "1970-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["/bin/true"], "Labels": {"bench.image": label}},
            "rootfs": {"type": "layers",
                       "diff_ids": layers.iter().map(|b| b.digest.clone()).collect::<Vec<_>>()},
        }),
    );
    let manifest = write_json_blob(
        blobs,
        &json!({
            "schemaVersion": 2, "mediaType": MT_MANIFEST,
            "config": desc("application/vnd.oci.image.config.v1+json", &config),
            "layers": layers.iter()
                .map(|b| desc("application/vnd.oci.image.layer.v1.tar", b))
                .collect::<Vec<_>>(),
        }),
    );
    let mut d = desc(MT_MANIFEST, &manifest);
    d["annotations"] = json!({ REF_NAME: reference });
    (d, manifest.digest)
}

/// The cold store: `n` images in `SYNC_REPOS` repositories, in `SYNC_GROUPS` groups
/// each sharing a chain of 40/20/10 MiB base layers, each image with its own
/// 64–256 KiB top layer; random (incompressible) bytes from a fixed seed.
/// Returns the store, its blob bytes and the images.
fn make_sync_store(root: &Path, n: usize) -> (PathBuf, u64, Vec<SyncImage>) {
    let store = root.join("store");
    let blobs = store.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let mut rng = Prng(0x5ec0_1d5a);
    let mut buf = vec![0u8; MIB as usize];
    let groups: Vec<Vec<Blob>> = (0..SYNC_GROUPS.min(n))
        .map(|_| {
            SYNC_BASE_LAYERS
                .iter()
                .map(|&size| write_random_blob(&blobs, size, &mut rng, &mut buf))
                .collect()
        })
        .collect();
    let (mut entries, mut images) = (Vec::new(), Vec::new());
    for i in 0..n {
        let mut layers = groups[i % groups.len()].clone();
        let top = 64 * 1024 + rng.next() % (192 * 1024);
        layers.push(write_random_blob(&blobs, top, &mut rng, &mut buf));
        let reference = format!("bench.example.com/sync/app{}:v{i}", i % SYNC_REPOS);
        let (entry, digest) = write_image(&blobs, &layers, &i.to_string(), &reference);
        entries.push(entry);
        images.push(SyncImage { reference, digest });
    }
    write_index(&store, entries);
    let bytes = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    (store, bytes, images)
}

/// The warm store: `tags` image tags over `tags / WARM_TAGS_PER_DIGEST` small
/// images (one shared 4 KiB layer, a config each), every tag of a digest in the same
/// repository. Returns the store and the number of digests.
fn make_warm_store(root: &Path, tags: usize) -> (PathBuf, usize) {
    let store = root.join("warm-store");
    let blobs = store.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let mut buf = vec![0u8; 4096];
    let layer = write_random_blob(&blobs, 4096, &mut Prng(0x3a53_11c0), &mut buf);
    let digests = tags.div_ceil(WARM_TAGS_PER_DIGEST);
    let mut entries = Vec::with_capacity(tags);
    for t in 0..tags {
        let d = t / WARM_TAGS_PER_DIGEST;
        let reference = format!(
            "bench.example.com/warm/app{}:t{d}-{}",
            d % WARM_REPOS,
            t % WARM_TAGS_PER_DIGEST
        );
        // every tag of digest d writes the same two blobs again: same bytes, same name
        let (entry, _) = write_image(
            &blobs,
            std::slice::from_ref(&layer),
            &d.to_string(),
            &reference,
        );
        entries.push(entry);
    }
    write_index(&store, entries);
    (store, digests)
}

/// A cosign key pair made by airsign under `root`, and every image of `store`
/// signed with it (`sign --all`, one call). Returns the private key's path.
fn sign_all(ctx: &Ctx, root: &Path, store: &Path) -> Result<PathBuf, String> {
    let prefix = root.join("cosign");
    let key = prefix.with_extension("key");
    if !key.exists() {
        run_ok(
            Command::new(&ctx.airsign)
                .arg("generate-key-pair")
                .arg("--output-key-prefix")
                .arg(&prefix)
                .env("COSIGN_PASSWORD", PASSWORD),
        )?;
    }
    run_ok(
        airsign_in(ctx, store)
            .args(["sign", "--all", "-y", "--key"])
            .arg(&key),
    )?;
    Ok(key)
}

/// `airsign --store STORE sync --all --to DEST --json [EXTRA…]`.
fn airsign_sync(ctx: &Ctx, store: &Path, dest: &str, extra: &[&str]) -> Command {
    let mut c = airsign_in(ctx, store);
    c.args(["sync", "--all", "--to", dest, "--json"])
        .args(extra);
    c
}

/// The parts of a `sync --json` report the bench judges.
struct SyncReport {
    requests: u64,
    writes: u64,
    bytes_sent: u64,
    mounted: u64,
}

/// Reads a `sync --json` report and checks it: no failure, no missing signature,
/// every image in `want` state (`pushed`, `present`), and every `.sig` artifact too
/// (`pushed` for `pushed`, else `present`).
fn check_sync_report(out: &[u8], images: usize, want: &str) -> Result<SyncReport, String> {
    let v: Value = serde_json::from_slice(out).map_err(|e| format!("sync --json: {e}"))?;
    let want_sig = if want == "pushed" {
        "pushed"
    } else {
        "present"
    };
    let list = v["images"].as_array().cloned().unwrap_or_default();
    let mut bad = Vec::new();
    if v["failed"] != json!(0) || v["missing_signatures"] != json!([]) {
        bad.push(format!(
            "failed {}, missing signatures {}",
            v["failed"], v["missing_signatures"]
        ));
    }
    if list.len() != images {
        bad.push(format!(
            "{} images in the report, want {images}",
            list.len()
        ));
    }
    let mut mounted = 0;
    for img in &list {
        mounted += img["blobs"]["mounted"].as_u64().unwrap_or(0);
        let sigs: Vec<&Value> = img["artifacts"]
            .as_array()
            .map(|a| a.iter().filter(|x| x["kind"] == "sig").collect())
            .unwrap_or_default();
        if img["status"] != want
            || sigs.is_empty()
            || sigs
                .iter()
                .any(|s| s["status"] != want_sig && s["status"] != "present")
        {
            bad.push(format!(
                "{}: {} (signatures: {:?})",
                img["source"],
                img["status"],
                sigs.iter()
                    .map(|s| s["status"].to_string())
                    .collect::<Vec<_>>()
            ));
        }
    }
    if !bad.is_empty() {
        bad.truncate(5);
        return Err(format!("sync report: {}", bad.join("; ")));
    }
    let r = &v["requests"];
    let n = |k: &str| r[k].as_u64().unwrap_or(0);
    Ok(SyncReport {
        requests: n("total"),
        writes: n("put") + n("post") + n("patch") + n("delete"),
        bytes_sent: n("bytes_sent"),
        mounted,
    })
}

/// A fresh loopback registry in `root/NAME-i` for run `i` of a cold push, after
/// stopping the one in `live` (the previous run's) and deleting its storage.
fn next_registry(
    ctx: &Ctx,
    root: &Path,
    name: &str,
    i: usize,
    live: &mut Option<Registry>,
) -> Result<String, String> {
    let bin = ctx.registry.as_ref().ok_or("no docker-registry")?;
    *live = None;
    if i > 0 {
        let _ = std::fs::remove_dir_all(root.join(format!("{name}-{}", i - 1)));
    }
    let dir = root.join(format!("{name}-{i}"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let reg = Registry::start(bin, &dir)?;
    let host = reg.host();
    *live = Some(reg);
    settle();
    Ok(host)
}

fn bench_sync(ctx: &Ctx) -> Outcome {
    let failed = Outcome {
        failed: true,
        ..Outcome::default()
    };
    let Some(registry) = &ctx.registry else {
        println!("no docker-registry (AIRSIGN_TEST_REGISTRY unset): run `make bench`");
        return failed;
    };
    let tmp = tempfile::Builder::new()
        .prefix("bench-sync.")
        .tempdir_in(&ctx.work)
        .expect("bench temp dir");
    let root = tmp.path();
    // The registries keep their storage on tmpfs when there is one: a real registry
    // is another machine, so its disk writes should not compete with the tools' reads
    // (both tools push into the same kind of registry either way).
    // AIRSIGN_BENCH_REGISTRY_ON_DISK=1 keeps it under the bench dir instead.
    let on_disk = std::env::var("AIRSIGN_BENCH_REGISTRY_ON_DISK").is_ok_and(|v| v == "1");
    let shm = (!on_disk && Path::new("/dev/shm").is_dir())
        .then(|| {
            tempfile::Builder::new()
                .prefix("airsign-bench-registry.")
                .tempdir_in("/dev/shm")
                .ok()
        })
        .flatten();
    let reg_root = shm.as_ref().map_or(root, |d| d.path());
    let help = run_ok(Command::new(&ctx.airsign).args(["sync", "--help"])).unwrap_or_default();
    let jobs = String::from_utf8_lossy(&help).contains("--jobs");
    println!(
        "airsign sync: {}; registry {}, storage in {}",
        if jobs {
            "--jobs supported (default concurrency used)"
        } else {
            "no --jobs yet (one blob at a time)"
        },
        registry.display(),
        reg_root.display()
    );

    // The cold store, signed.
    let n = ((SYNC_IMAGES * ctx.scale).round() as usize).max(1);
    let t = Instant::now();
    let (store, bytes, images) = make_sync_store(root, n);
    if let Err(e) = sign_all(ctx, root, &store) {
        println!("signing the store FAILED:\n{e}");
        return failed;
    }
    let files: Vec<PathBuf> = std::fs::read_dir(store.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    println!(
        "cold store: {n} signed images in {} repositories, {} blobs, {:.1} MB, \
         {} base-layer chains of {} MiB shared (made in {:.1}s)",
        SYNC_REPOS.min(n),
        files.len(),
        bytes as f64 / 1e6,
        SYNC_GROUPS.min(n),
        SYNC_BASE_LAYERS.iter().sum::<u64>() / MIB,
        t.elapsed().as_secs_f64()
    );
    warm(&files);

    // Cold, airsign: one call pushes every image and its .sig into a fresh registry.
    let mut live: Option<Registry> = None;
    let mut first_report: Option<Result<SyncReport, String>> = None;
    let air = (|| {
        let (mut best, mut rss) = (Duration::MAX, None::<u64>);
        for i in 0..ctx.runs {
            let host = next_registry(ctx, reg_root, "air", i, &mut live)?;
            let (took, out, peak) =
                run_timed(ctx, airsign_sync(ctx, &store, &format!("{host}/air"), &[]))?;
            if i == 0 {
                let report = check_sync_report(&out, n, "pushed");
                let bad = report.as_ref().err().cloned();
                first_report = Some(report);
                if let Some(e) = bad {
                    return Err(e);
                }
            }
            best = best.min(took);
            rss = rss.max(peak);
        }
        Ok(Measure { best, rss_kib: rss })
    })();
    live = None;

    // Cold, skopeo: one `skopeo copy` per tag (the image, then its .sig), summed;
    // --preserve-digests, or skopeo would gzip the layers and break the signatures.
    let skopeo_copies = |skopeo: &Path, host: &str| -> Vec<Command> {
        let mut cmds = Vec::new();
        for img in &images {
            for src in [img.reference.clone(), img.sig_reference()] {
                let dest_path = src.split_once('/').map_or("", |(_, p)| p);
                let mut c = Command::new(skopeo);
                c.args(["--insecure-policy", "copy", "--quiet", "--preserve-digests"])
                    .arg("--dest-tls-verify=false")
                    .arg(format!("oci:{}:{src}", store.display()))
                    .arg(format!("docker://{host}/sko/{dest_path}"));
                cmds.push(c);
            }
        }
        cmds
    };
    let sko = ctx.skopeo.as_ref().map(|skopeo| {
        let (mut best, mut rss) = (Duration::MAX, None::<u64>);
        for i in 0..ctx.runs {
            let host = next_registry(ctx, reg_root, "sko", i, &mut live)?;
            let mut total = Duration::ZERO;
            for c in skopeo_copies(skopeo, &host) {
                let (took, _, peak) = run_timed(ctx, c)?;
                total += took;
                rss = rss.max(peak);
            }
            if i == 0 {
                // skopeo must have put the same bytes in the same places: airsign,
                // asked what it would send there, finds every image and .sig present.
                let out = run_ok(&mut airsign_sync(
                    ctx,
                    &store,
                    &format!("{host}/sko"),
                    &["--dry-run"],
                ))?;
                check_sync_report(&out, n, "present").map_err(|e| format!("after skopeo: {e}"))?;
            }
            best = best.min(total);
        }
        Ok::<_, String>(Measure { best, rss_kib: rss })
    });
    live = None;

    let copies = 2 * n;
    println!(
        "\ncold push of the store ({n} images + {n} .sig) into a fresh loopback registry, \
         best of {}:",
        ctx.runs
    );
    let mut rows = vec![Row {
        tool: "airsign sync --all".into(),
        result: air,
    }];
    match sko {
        Some(r) => rows.push(Row {
            tool: format!("skopeo copy x{copies} (sum)"),
            result: r,
        }),
        None => println!("(no skopeo: AIRSIGN_TEST_SKOPEO unset; run `make bench`)"),
    }
    let skopeo_row = format!("skopeo copy x{copies} (sum)");
    print_table(bytes, &rows, &skopeo_row);
    if let Some(Ok(r)) = &first_report {
        println!(
            "airsign's first run: {} requests ({} writes), {:.1} MB sent of {:.1} MB of blobs, \
             {} blob mounts",
            r.requests,
            r.writes,
            r.bytes_sent as f64 / 1e6,
            bytes as f64 / 1e6,
            r.mounted
        );
    }
    let secs = |i: usize| {
        rows.get(i)
            .and_then(|r| r.result.as_ref().ok())
            .map(|m| m.best.as_secs_f64())
    };
    let cold_ratio = secs(0).zip(secs(1)).map(|(a, s)| a / s);
    let cold_rss = rows[0].result.as_ref().ok().and_then(|m| m.rss_kib);
    let mut outcome = Outcome {
        failed: rows.iter().any(|r| r.result.is_err()),
        ..Outcome::default()
    };

    // Warm: a 1,000-tag store synced once (untimed), then resynced.
    let tags = ((WARM_TAGS * ctx.scale).round() as usize).max(WARM_TAGS_PER_DIGEST);
    let (warm_store, digests) = make_warm_store(root, tags);
    let warm = sign_all(ctx, root, &warm_store).and_then(|_| {
        let host = next_registry(ctx, reg_root, "warm", 0, &mut live)?;
        let dest = format!("{host}/warm");
        let out = run_ok(&mut airsign_sync(ctx, &warm_store, &dest, &[]))?;
        check_sync_report(&out, tags, "pushed").map_err(|e| format!("first sync: {e}"))?;
        // Timed with --plain-http: the scheme is known, as it is for any HTTPS
        // registry. Without it a loopback registry costs a one-time HTTPS probe
        // (counted here once, untimed).
        let out = run_ok(&mut airsign_sync(ctx, &warm_store, &dest, &[]))?;
        let probed = check_sync_report(&out, tags, "present")
            .map_err(|e| format!("resync: {e}"))?
            .requests;
        let report = std::cell::Cell::new(None::<(u64, u64)>);
        let m = measure(
            ctx,
            &|| airsign_sync(ctx, &warm_store, &dest, &["--plain-http"]),
            &|out| {
                let r =
                    check_sync_report(out, tags, "present").map_err(|e| format!("resync: {e}"))?;
                report.set(Some((r.requests, r.writes)));
                Ok(())
            },
        )?;
        let (requests, writes) = report.get().unwrap_or_default();
        Ok((m, requests, writes, probed))
    });
    drop(live);
    // Each tag at the destination: the image tags, and one .sig tag per digest.
    let all_tags = tags + digests;
    println!(
        "\nwarm resync: {tags} image tags over {digests} digests + {digests} .sig tags \
         = {all_tags} tags, all present at the destination, best of {}:",
        ctx.runs
    );
    let (warm_secs, per_tag, warm_rss) = match &warm {
        Ok((m, requests, writes, probed)) => {
            let per_tag = *requests as f64 / all_tags as f64;
            println!(
                "airsign sync --all --plain-http (resync): {:.3} s, {requests} requests \
                 ({writes} writes): {per_tag:.3} per tag ({:.3} per image tag), peak RSS {}",
                m.best.as_secs_f64(),
                *requests as f64 / tags as f64,
                m.rss_kib
                    .map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
            );
            println!(
                "(without --plain-http: {probed} requests, the loopback HTTPS probe included)"
            );
            outcome.failed |= *writes != 0;
            (Some(m.best.as_secs_f64()), Some(per_tag), m.rss_kib)
        }
        Err(e) => {
            println!("warm resync FAILED:\n{e}");
            outcome.failed = true;
            (None, None, None)
        }
    };

    // The 2 s target is for 1,000 tags: scale it with the tag count.
    let warm_limit = 2.0 * tags as f64 / WARM_TAGS;
    let rss_mib = [cold_rss, warm_rss]
        .into_iter()
        .collect::<Option<Vec<u64>>>()
        .map(|v| v.into_iter().max().unwrap_or(0) as f64 / 1024.0);
    let cold_ok = cold_ratio.map(|r| r <= 0.5);
    let warm_ok = warm_secs.map(|s| s <= warm_limit);
    let req_ok = per_tag.map(|p| p <= 1.0);
    let rss_ok = rss_mib.map(|m| m < 64.0);
    println!(
        "\ntarget: cold <= 0.5x skopeo's time: {} ({}); warm resync of {tags} tags <= {warm_limit:.1} s: \
         {} ({}); <= 1 request per tag: {} ({});\n        peak RSS < 64 MiB: {} ({})",
        cold_ratio.map_or("-".into(), |r| format!("{r:.2}x")),
        verdict(cold_ok),
        warm_secs.map_or("-".into(), |s| format!("{s:.2} s")),
        verdict(warm_ok),
        per_tag.map_or("-".into(), |p| format!("{p:.3}")),
        verdict(req_ok),
        rss_mib.map_or("-".into(), |m| format!("{m:.1} MiB")),
        verdict(rss_ok),
    );
    outcome.missed = [cold_ok, warm_ok, req_ok, rss_ok]
        .iter()
        .any(|ok| *ok != Some(true));
    outcome
}
