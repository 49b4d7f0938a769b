//! Against a real LLM server: the local llama.cpp server with SmolLM2-135M (one thread), started
//! on a free loopback port and stopped by its PID. Checks the one-call LLM namer and the default
//! one-call grouping (streamed) on PPMI-7, and a small IC|TC run that is killed with SIGKILL and resumed from its answer cache.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use clusterby::query::one_call::{Failure, Verdict};
use clusterby::query::{ClusterResult, NamerKind, Strategy};
use clusterby::ModelName;

fn index_of(dir: &Path, lines: &[&str]) -> std::path::PathBuf {
    let input = dir.join("captions.jsonl");
    let mut f = std::fs::File::create(&input).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    drop(f);
    let idx = dir.join("idx");
    let o = Command::new(common::bin())
        .args(["index", input.to_str().unwrap(), "--out", idx.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    idx
}

fn read_result(p: &Path) -> ClusterResult {
    ClusterResult::from_json(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
#[cfg_attr(not(clusterby_llm_server), ignore = "needs .venv with xllamacpp: bash scripts/setup.sh")]
fn real_server_names_clusters_and_runs_ictc_with_resume() {
    common::require_model(ModelName::AllMiniLmL6V2);
    let ppmi7 = common::require_file(common::shared_dir().join("data/captions/ppmi7.jsonl"));
    let server = common::LlmServer::start();
    assert!(server.pid() > 0);
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&ppmi7).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let idx = index_of(dir.path(), &lines);
    let llm = ["--llm-base-url", server.base_url.as_str(), "--llm-model", server.model.as_str()];
    // `cluster` by musical instrument, K = 7, on the endpoint, with `extra` flags.
    let cluster = |extra: &[&str]| -> ClusterResult {
        let json = dir.path().join("result.json");
        let o = Command::new(common::bin())
            .args(["cluster", idx.to_str().unwrap(), "--by", "musical instrument", "-k", "7"])
            .args(extra)
            .args(llm)
            .args(["--json", json.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        read_result(&json)
    };

    // One call names all seven PPMI-7 clusters.
    let r = cluster(&["--namer", "llm"]);
    let u = r.llm.clone().expect("llm usage in the result");
    assert_eq!(r.llm_calls, 1);
    assert_eq!((u.calls, u.failed_calls), (1, 0), "{u:?}");
    assert!(u.prompt_tokens > 200 && u.completion_tokens > 0, "{u:?}");
    assert_eq!(r.clusters.len(), 7);
    let mut names: Vec<String> = r.clusters.iter().map(|c| c.name.to_lowercase()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 7, "names must be distinct: {:?}", r.clusters);
    // SmolLM2-135M may answer with duplicates, which the namer rejects; either way the result
    // says which namer's names it holds.
    let naming = r.diagnostics.naming.clone().expect("the LLM namer reports");
    match r.namer {
        NamerKind::Keywords => assert!(naming.fallback.is_some() && naming.detail.is_some(), "{naming:?}"),
        namer => assert_eq!((namer, naming.fallback), (NamerKind::Llm, None)),
    }
    eprintln!(
        "LLM names: {:?} ({} prompt + {} completion tokens, {:.1} s)",
        r.clusters.iter().map(|c| &c.name).collect::<Vec<_>>(),
        u.prompt_tokens,
        u.completion_tokens,
        u.seconds
    );

    // Only the endpoint and K: the default spends its one call grouping the criterion values,
    // streamed (the token counts come from the stream's last chunk).
    let r = cluster(&["--llm-timeout", "60"]);
    let u = r.llm.clone().expect("llm usage in the result");
    assert_eq!((r.llm_calls, u.calls, u.failed_calls), (1, 1, 0), "{:?}", r.diagnostics);
    assert!(u.prompt_tokens > 300 && u.completion_tokens > 0, "{u:?}");
    assert_eq!(r.assignments.len(), lines.len());
    assert_eq!(r.clusters.len(), 7);
    // Kept, refused or unusable (then the zero-call clusters stand), the result says which.
    let one_call = r.diagnostics.one_call.clone().expect("the one call reports");
    assert_eq!(r.strategy, Strategy::OneCall);
    match &one_call.verdict {
        Verdict::Kept { .. } => assert_eq!(r.namer, NamerKind::Llm),
        Verdict::Refused { .. } => assert!(one_call.objective.is_some() || one_call.voters.is_some(), "{one_call:?}"),
        Verdict::Failed { reason } => {
            assert_eq!(*reason, Failure::UnusableAnswer, "the server answered: {one_call:?}");
            assert!(one_call.detail.is_some());
        }
    }
    eprintln!(
        "one-call grouping: {:?} ({} prompt + {} completion tokens, {:.1} s)",
        one_call.verdict, u.prompt_tokens, u.completion_tokens, u.seconds
    );

    // The zero-call path stays one flag away, endpoint or not.
    let r = cluster(&["--strategy", "zero-call"]);
    assert_eq!((r.strategy, r.llm_calls, r.llm.is_none()), (Strategy::ZeroCall, 0, true));

    // IC|TC on 10 captions (21 calls), killed after a few answers, then resumed.
    let small: Vec<&str> = lines.iter().step_by(70).copied().collect();
    let sdir = dir.path().join("small");
    std::fs::create_dir_all(&sdir).unwrap();
    let sidx = index_of(&sdir, &small);
    let n = small.len();
    let cache = sdir.join("cache.jsonl");
    let out = sdir.join("ictc.json");
    let ictc = |extra: &[&str]| {
        let mut c = Command::new(common::bin());
        c.args(["ictc", sidx.to_str().unwrap(), "--by", "musical instrument", "-k", "7", "--llm-concurrency", "1"])
            .args(llm)
            .args(["--cache", cache.to_str().unwrap(), "--json", out.to_str().unwrap()])
            .args(extra);
        c
    };
    let mut child = ictc(&[]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let lines_in = |p: &Path| std::fs::read_to_string(p).map(|t| t.lines().count()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(300);
    while lines_in(&cache) < 4 {
        assert!(child.try_wait().unwrap().is_none(), "ictc ended before it could be killed");
        assert!(Instant::now() < deadline, "no answers cached after 300 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let cached_at_kill = lines_in(&cache);
    assert!(cached_at_kill < 2 * n + 1, "killed too late to test resuming");
    assert!(!out.exists(), "a killed run writes no result");

    let o = ictc(&[]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = read_result(&out);
    let u = r.llm.clone().unwrap();
    assert_eq!(r.llm_calls, 2 * n + 1);
    assert!(u.cache_hits as usize >= cached_at_kill, "{u:?} vs {cached_at_kill} cached");
    assert_eq!((u.calls + u.cache_hits) as usize, 2 * n + 1, "no call repeated, none missing: {u:?}");
    assert_eq!(r.assignments.len(), n);
    assert!(r.assignments.iter().all(|a| (0..7).contains(&a.cluster)));
    assert_eq!((r.strategy, r.method), (Strategy::Ictc, None));

    // A third run is served entirely from the cache, with the same answer.
    let o = ictc(&[]).output().unwrap();
    assert!(o.status.success());
    let r3 = read_result(&out);
    assert_eq!(r3.llm.as_ref().unwrap().calls, 0);
    assert_eq!(r3.llm.as_ref().unwrap().cache_hits as usize, 2 * n + 1);
    let clusters = |r: &ClusterResult| r.assignments.iter().map(|a| a.cluster).collect::<Vec<_>>();
    assert_eq!(clusters(&r3), clusters(&r));

    // The captioner against a text-only server: it refuses images, and each refusal is retried,
    // recorded per image and never fatal; the image index itself stays complete.
    let imgs = sdir.join("imgs");
    std::fs::create_dir_all(&imgs).unwrap();
    let cifar = common::shared_dir().join("data/images/cifar10-test/images");
    for f in ["00000_airplane.png", "01000_automobile.png"] {
        std::fs::copy(cifar.join(f), imgs.join(f)).unwrap();
    }
    let iidx = sdir.join("iidx");
    let clip = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny-clip");
    let o = Command::new(common::bin())
        .args(["index", imgs.to_str().unwrap(), "--out", iidx.to_str().unwrap(), "--clip", clip.to_str().unwrap()])
        .args([
            "--captioner",
            "openai",
            "--base-url",
            server.base_url.as_str(),
            "--captioner-model",
            server.model.as_str(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("no caption for 00000_airplane.png") && err.contains("image input is not supported"), "{err}");
    assert!(err.contains("0 new, 0 from earlier runs, 2 failed"), "{err}");
    let log = std::fs::read_to_string(iidx.join("captions.jsonl")).unwrap();
    assert_eq!(log.lines().filter(|l| l.contains("\"error\"")).count(), 2, "{log}");
    assert_eq!(clusterby::store::caption_index::Index::open(&iidx).unwrap().manifest().rows, 2);

    // eval reads IC|TC's result like any other.
    let o = Command::new(common::bin())
        .args(["eval", out.to_str().unwrap(), "--labels", sidx.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("ACC "));
}
