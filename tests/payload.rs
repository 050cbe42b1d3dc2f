//! `airsign generate` prints the payload byte for byte as the real `cosign generate`.

mod common;

use std::process::Command;

use common::oci::*;
use common::*;
use tempfile::TempDir;

const D: &str = "sha256:87a0bbd518e444cc53593183783682d6864c23a69713509cd176ddb3cfbfb018";

fn cosign_generate(cosign: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let out = run(Command::new(cosign)
        .arg("generate")
        .args(args)
        .env("HOME", std::env::temp_dir()));
    assert!(
        out.status.success(),
        "cosign generate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn airsign_generate(args: &[&str]) -> Vec<u8> {
    let out = run(airsign(["generate"]).args(args));
    assert!(
        out.status.success(),
        "airsign generate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn generate_matches_cosign_byte_for_byte() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let refs = [
        format!("127.0.0.1:5000/team/app@{D}"),
        format!("ubuntu@{D}"),
        format!("docker.io/user/demo@{D}"),
        format!("registry.example.com:8443/a/b/c:v1@{D}"),
    ];
    let annotation_sets: Vec<Vec<&str>> = vec![
        vec![],
        vec!["-a", "env=prod"],
        vec![
            "-a",
            "html=<script>&amp;</script>",
            "-a",
            "uni=héllo 日本 \u{2028}",
        ],
        vec![
            "-a",
            r#""back=C:\path\""quoted""""#,
            "-a",
            "tab=a\tb\nignored",
            "-a",
            "ctl=\u{1}\u{7f}",
        ],
        vec![
            "-a",
            "\nk=v",
            "-a",
            "cr=x\ry",
            "-a",
            "\"q=a\r\nb\"",
            "-a",
            " sp = v ",
            "-a",
            "e=",
        ],
        vec!["-a", "z=last", "-a", "a=first", "-a", "a=again"],
        vec!["-a", "one=1,two=2", "-a", r#""q=a,b",e="#],
    ];
    for r in &refs {
        for ann in &annotation_sets {
            let mut args: Vec<&str> = ann.clone();
            args.push(r);
            let want = cosign_generate(&cosign, &args);
            let got = airsign_generate(&args);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "payload differs for {args:?}"
            );
            assert_eq!(got, want);
            assert!(!got.ends_with(b"\n"));
        }
    }
}

/// cosign 2.5 refuses a value holding `=`; cosign 3 splits at the first `=` only, and
/// so does airsign.
#[test]
fn annotation_values_may_hold_equals_signs() {
    let got = airsign_generate(&["-a", "m=x=y=z", &format!("r.example/ab@{D}")]);
    assert!(
        String::from_utf8(got)
            .unwrap()
            .ends_with(r#""optional":{"m":"x=y=z"}}"#)
    );
}

#[test]
fn generate_resolves_a_tag_in_the_store() {
    let tmp = TempDir::new().unwrap();
    let store = tmp.path().join("store");
    ok(airsign(["store", "init", "--store"]).arg(&store));
    let src = TestLayout::new(&tmp.path().join("src"));
    let (img, _) = src.image("amd64", "gen");
    src.set_index(&[named(img.clone(), "v1")]);
    ok(airsign([
        "import",
        "--repository",
        "registry.example.com/team/app",
        "--store",
    ])
    .arg(&store)
    .arg(format!("oci:{}", src.root.display())));
    let by_tag = ok(airsign([
        "generate",
        "-a",
        "k=v",
        "registry.example.com/team/app:v1",
        "--store",
    ])
    .arg(&store));
    let digest = img["digest"].as_str().unwrap();
    let by_digest = airsign_generate(&[
        "-a",
        "k=v",
        &format!("registry.example.com/team/app@{digest}"),
    ]);
    assert_eq!(by_tag.as_bytes(), by_digest);
    assert!(by_tag.contains(&format!(r#""docker-manifest-digest":"{digest}""#)));
    assert!(by_tag.contains(r#""docker-reference":"registry.example.com/team/app""#));

    // an oci: layout entry with a full name works too; a bare tag has no repository
    let by_layout = ok(airsign(["generate", "-a", "k=v"]).arg(format!(
        "oci:{}:registry.example.com/team/app:v1",
        store.display()
    )));
    assert_eq!(by_layout, by_tag);
    let err = fails(airsign(["generate"]).arg(format!("oci:{}:v1", src.root.display())));
    assert!(err.contains("--repository"), "{err}");

    // unknown tag: a clear error
    let err =
        fails(airsign(["generate", "registry.example.com/team/app:nope", "--store"]).arg(&store));
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn bad_annotations_are_refused_like_cosign() {
    for bad in ["novalue", r#"a="x""#, r#""unterminated"#] {
        let err = fails(&mut airsign([
            "generate",
            "-a",
            bad,
            &format!("r.example/a@{D}"),
        ]));
        assert!(err.contains("annotation"), "{bad}: {err}");
    }
}
