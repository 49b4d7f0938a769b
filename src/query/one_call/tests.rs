//! The one-call query against the project's fake server: useful answers, useless ones
//! (refused, zero-call kept), a dead server, a small context window.

use serde_json::json;

use super::*;
use crate::conditioning::Conditioning;
use crate::llm::LlmConfig;
use crate::query::{run, Strategy};
use crate::testing::fake_server::{FakeServer, Reply};

fn index(caps: &[&str], enc: &mut TextEmbedding) -> LoadedIndex {
    let captions: Vec<String> = caps.iter().map(|s| s.to_string()).collect();
    LoadedIndex {
        ids: (0..caps.len()).map(|i| format!("c{i}")).collect(),
        labels: vec![None; caps.len()],
        embeddings: enc.embed(&captions).unwrap(),
        captions,
    }
}

fn one_call(criterion: &str, k: Option<usize>) -> QueryOptions {
    QueryOptions::new(criterion).with_k(k).with_strategy(Strategy::OneCall)
}

fn client(server: &FakeServer) -> LlmClient {
    LlmClient::new(LlmConfig::new(server.base_url(), "m").with_max_retries(0)).unwrap()
}

fn verdict(r: &ClusterResult) -> Verdict {
    r.diagnostics.one_call.as_ref().expect("a one-call report").verdict.clone()
}

/// The prompt's value lines ("violin: 6").
fn value_lines(prompt: &str) -> usize {
    prompt.lines().filter(|l| l.rsplit_once(": ").is_some_and(|(_, n)| n.parse::<u32>().is_ok())).count()
}

/// Six players in four scenes with each of `instruments`: caption `i` plays
/// `instruments[i % 4]`.
fn band(instruments: &[&str; 4]) -> Vec<String> {
    let who = ["A man", "A woman", "A young girl", "An old man", "A street musician", "A student"];
    let scenes = ["on a stage.", "in a park.", "at a wedding.", "in a small room."];
    let mut caps = Vec::new();
    for w in who {
        for sc in scenes {
            for ins in instruments {
                caps.push(format!("{w} playing the {ins} {sc}"));
            }
        }
    }
    caps
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn names_only_answers_seed_k_means_and_failures_keep_the_zero_call_clusters() {
    let mut enc = crate::embed::text::test_encoder();
    let caps: Vec<&str> = (0..12)
        .map(|i| {
            if i % 2 == 0 {
                "A man plays the trumpet, a brass instrument, on a stage."
            } else {
                "A woman plays the violin, a string instrument, with a bow."
            }
        })
        .collect();
    let idx = index(&caps, &mut enc);
    let opts = one_call("musical instrument", Some(2));
    let server =
        FakeServer::start(vec![Reply::counted("{\"names\": [\"string instruments\", \"brass instruments\"]}", 400)]);
    let r = run(&idx, &mut enc, &opts, Some(&client(&server))).unwrap();
    assert_eq!((r.llm_calls, r.namer, r.strategy), (1, NamerKind::Llm, Strategy::OneCall));
    assert_eq!(verdict(&r), Verdict::Kept { answer: AnswerKind::NamesOnly, because: KeptBecause::Fits });
    let body = &server.chat_requests()[0].body;
    assert!(body.contains("trumpet") && body.contains("violin"), "values reach the prompt: {body}");
    for (i, a) in r.assignments.iter().enumerate() {
        assert_eq!(a.cluster, if i % 2 == 0 { 1 } else { 0 }, "caption {i}");
    }
    assert_eq!(r.clusters[1].name, "brass instruments");
    assert!(!r.diagnostics.one_call.as_ref().unwrap().prompt_cut_by_server);

    // A prompt the server rejects (too long for its context): the detail says what to lower.
    let server = FakeServer::start(vec![Reply::status(400, "the request exceeds the available context size")]);
    let r = run(&idx, &mut enc, &opts, Some(&client(&server))).unwrap();
    assert_eq!(
        (verdict(&r), r.llm_calls, r.namer),
        (Verdict::Failed { reason: Failure::CallFailed }, 1, NamerKind::Keywords)
    );
    let detail = r.diagnostics.one_call.as_ref().unwrap().detail.clone().unwrap();
    assert!(detail.contains("HTTP 400") && detail.contains("lower --llm-values"), "{detail}");

    // A dead server: the zero-call clusters, one (failed) call.
    let zero = run(&idx, &mut enc, &QueryOptions::new("musical instrument").with_k(Some(2)), None).unwrap();
    let server = FakeServer::start(vec![Reply::status(500, "down"); 8]);
    let r = run(&idx, &mut enc, &opts, Some(&client(&server))).unwrap();
    assert_eq!((verdict(&r), r.llm_calls), (Verdict::Failed { reason: Failure::CallFailed }, 1));
    assert_eq!(r.labels(), zero.labels());
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn a_small_context_window_lists_what_fits() {
    let mut enc = crate::embed::text::test_encoder();
    let owned = band(&["guitar", "harp", "saxophone", "flute"]);
    let idx = index(&owned.iter().map(String::as_str).collect::<Vec<_>>(), &mut enc);
    let opts = one_call("musical instrument", Some(2));
    let full = {
        let s = FakeServer::start(vec![Reply::content("{}")]);
        let r = run(&idx, &mut enc, &opts, Some(&client(&s))).unwrap();
        assert_eq!(verdict(&r), Verdict::Failed { reason: Failure::UnusableAnswer });
        let body: serde_json::Value = serde_json::from_str(&s.chat_requests()[0].body).unwrap();
        value_lines(body["messages"][1]["content"].as_str().unwrap())
    };
    // A server whose window holds a few values, and that counts far fewer prompt tokens than
    // were sent, as Ollama does after cutting a prompt.
    let window = 400 + 2 * 24 + 32 + 3 * 13;
    let server = FakeServer::with_handler(move |r| match r.path.as_str() {
        "/props" => Reply::raw(200, &format!("{{\"default_generation_settings\":{{\"n_ctx\":{window}}}}}")),
        "/v1/chat/completions" => Reply::content("{\"names\": [\"string instruments\", \"wind instruments\"]}"),
        _ => Reply::status(404, "no"),
    });
    let r = run(&idx, &mut enc, &opts, Some(&client(&server))).unwrap();
    let body: serde_json::Value = serde_json::from_str(&server.chat_requests()[0].body).unwrap();
    let prompt = body["messages"][1]["content"].as_str().unwrap();
    let listed = value_lines(prompt);
    assert!((1..full).contains(&listed), "{listed} of {full} values listed");
    let max_tokens = body["max_tokens"].as_u64().unwrap() as usize;
    assert!(max_tokens + prompt.len() / 2 <= window && max_tokens >= 2 * 24 + 32, "max_tokens {max_tokens}");
    let report = r.diagnostics.one_call.unwrap();
    assert_eq!(
        (report.values_listed, report.values_available, report.context_window),
        (listed, full, Some(window as u32))
    );
    assert!(report.prompt_cut_by_server);
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn the_llms_grouping_of_values_decides_what_the_captions_cannot() {
    let mut enc = crate::embed::text::test_encoder();
    // Strings (guitar, harp) and wind (saxophone, flute): nothing in the captions says which
    // is which, and MiniLM pairs the guitar with the saxophone.
    let owned = band(&["guitar", "harp", "saxophone", "flute"]);
    let caps: Vec<&str> = owned.iter().map(String::as_str).collect();
    let idx = index(&caps, &mut enc);
    let cluster_of = |r: &ClusterResult, i: usize| r.assignments[i].cluster;
    let zero = run(&idx, &mut enc, &QueryOptions::new("musical instrument").with_k(Some(2)), None).unwrap();
    assert!((0..caps.len()).step_by(4).all(|i| cluster_of(&zero, i) == cluster_of(&zero, i + 2)), "the premise");

    let mut ask = |answer: &str, check: GroupingCheck| {
        let server = FakeServer::start(vec![Reply::content(answer)]);
        let opts = one_call("musical instrument", Some(2)).with_one_call(OneCallParams::default().with_grouping(check));
        let r = run(&idx, &mut enc, &opts, Some(&client(&server))).unwrap();
        (r, server.chat_requests()[0].body.clone())
    };
    let grouping = AnswerKind::Grouping;

    // Members as models write them: plural, capitalised.
    let (r, body) = ask(
        r#"{"categories": [{"name": "strings", "terms": ["guitar", "Harps"]}, {"name": "wind", "terms": ["saxophones", "flute"]}]}"#,
        GroupingCheck::Checked,
    );
    assert!(body.contains("harp") && body.contains("\"categories\""), "values and the schema reach the prompt: {body}");
    assert_eq!(
        (verdict(&r), r.namer),
        (Verdict::Kept { answer: grouping, because: KeptBecause::Fits }, NamerKind::Llm)
    );
    let strings = cluster_of(&r, 0);
    assert_eq!(r.clusters[strings as usize].name, "strings");
    for (i, caption) in caps.iter().enumerate() {
        assert_eq!(cluster_of(&r, i) == strings, i % 4 < 2, "caption {i}: {caption}");
    }

    // A grouping the data does not support is refused: the zero-call partition stays.
    let loud_soft = r#"{"categories": [{"name": "loud", "terms": ["guitar", "harp", "saxophone"]}, {"name": "soft", "terms": ["flute"]}]}"#;
    let (r, _) = ask(loud_soft, GroupingCheck::Checked);
    assert_eq!(
        (verdict(&r), r.namer),
        (Verdict::Refused { answer: grouping, reason: Refusal::FitsWorse }, NamerKind::Keywords)
    );
    assert_eq!(r.labels(), zero.labels());

    // Every value in one category (as Qwen2.5-Coder-1.5B answered on PPMI-2): refused however
    // well k-means then fits.
    let all_in_one = r#"{"categories": [{"name": "instruments", "terms": ["guitar", "harp", "saxophone", "flute"]}, {"name": "other", "terms": []}]}"#;
    let (r, _) = ask(all_in_one, GroupingCheck::Checked);
    assert_eq!(verdict(&r), Verdict::Refused { answer: grouping, reason: Refusal::ThinCategories });
    assert_eq!(r.diagnostics.one_call.as_ref().unwrap().thin_categories, ["other"]);
    assert_eq!(r.labels(), zero.labels());

    // Trusted: the unsupported grouping is kept as the model gave it (the flutes alone); the
    // all-in-one answer is still no partition.
    let (r, _) = ask(loud_soft, GroupingCheck::Trusted);
    assert_eq!(
        (verdict(&r), r.namer),
        (Verdict::Kept { answer: grouping, because: KeptBecause::Trusted }, NamerKind::Llm)
    );
    let soft = cluster_of(&r, 3);
    assert_eq!(r.clusters[soft as usize].name, "soft");
    for (i, caption) in caps.iter().enumerate() {
        assert_eq!(cluster_of(&r, i) == soft, i % 4 == 3, "caption {i}: {caption}");
    }
    let (r, _) = ask(all_in_one, GroupingCheck::Trusted);
    assert_eq!(verdict(&r), Verdict::Refused { answer: grouping, reason: Refusal::FewerThanTwoCategories });
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn without_k_the_call_asks_for_the_k_the_zero_call_query_chooses() {
    let mut enc = crate::embed::text::test_encoder();
    let players = band(&["guitar", "harp", "saxophone", "flute"]);
    let idx = index(&players.iter().map(String::as_str).collect::<Vec<_>>(), &mut enc);
    let zero = run(&idx, &mut enc, &QueryOptions::new("musical instrument"), None).unwrap();
    assert!(zero.k_auto);
    // A model that gives as many categories as asked: the instruments split in order.
    let server = FakeServer::with_handler(|r| {
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        let k =
            body.pointer("/response_format/json_schema/schema/properties/categories/minItems").and_then(|v| v.as_u64());
        let Some(k) = k.filter(|_| r.path.ends_with("/chat/completions")) else { return Reply::status(404, "no") };
        let all = ["guitar", "harp", "saxophone", "flute"];
        let cats: Vec<serde_json::Value> = (0..k as usize)
            .map(|c| {
                let terms: Vec<&str> =
                    all.iter().enumerate().filter(|(i, _)| i * k as usize / 4 == c).map(|(_, t)| *t).collect();
                json!({"name": format!("group {}", ["a", "b", "c", "d"][c.min(3)]), "terms": terms})
            })
            .collect();
        Reply::content(&json!({ "categories": cats }).to_string())
    });
    let r = run(&idx, &mut enc, &one_call("musical instrument", None), Some(&client(&server))).unwrap();
    let asked: serde_json::Value = serde_json::from_str(&server.chat_requests()[0].body).unwrap();
    let prompt = asked["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.contains(&format!("exactly {} categories", zero.k)), "{prompt}");
    assert_eq!((r.k, r.k_auto, r.llm_calls), (zero.k, true, 1));
    assert_eq!(r.k_selection, zero.k_selection);
    assert!(r.diagnostics.one_call.as_ref().unwrap().k_from_zero_call);

    // A failed call leaves exactly the zero-call result, K and all.
    let down = FakeServer::start(vec![Reply::status(500, "down")]);
    let r = run(&idx, &mut enc, &one_call("musical instrument", None), Some(&client(&down))).unwrap();
    assert_eq!((r.k, r.k_auto, r.llm_calls), (zero.k, true, 1));
    assert_eq!(verdict(&r), Verdict::Failed { reason: Failure::CallFailed });
    assert_eq!(r.labels(), zero.labels());
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn a_grouping_the_embeddings_do_not_follow_is_kept_where_co_mentions_vouch_for_it() {
    let mut enc = crate::embed::text::test_encoder();
    // Two bands, each mixing strings and wind. Most captions show one instrument; where two
    // appear together they are of one band. Nothing in the words says which band an
    // instrument is in, and the embeddings pair instruments by kind; the co-mentions say it.
    let bands = [["guitar", "flute", "violin", "trumpet"], ["harp", "saxophone", "cello", "clarinet"]];
    let scenes = [
        "on a snowy mountain at night",
        "on a sunny beach at noon",
        "in a dark old church",
        "in a busy street market",
        "in a small kitchen",
        "on a wooden boat",
        "in a school classroom",
        "beside a quiet lake",
    ];
    let mut caps = Vec::new();
    let mut band_of = Vec::new();
    for (which, band) in bands.iter().enumerate() {
        for a in 0..4 {
            for scene in scenes {
                caps.push(format!("A {} {scene}.", band[a]));
                band_of.push(which);
            }
            for b in a + 1..4 {
                for scene in &scenes[..2] {
                    caps.push(format!("A {} and a {} {scene}.", band[a], band[b]));
                    band_of.push(which);
                }
            }
        }
    }
    let caps: Vec<&str> = caps.iter().map(String::as_str).collect();
    let idx = index(&caps, &mut enc);
    let opts = one_call("musical instrument", Some(2));
    let mut ask = |answer: &str| {
        let server = FakeServer::start(vec![Reply::content(answer)]);
        run(&idx, &mut enc, &opts, Some(&client(&server))).unwrap()
    };
    let r = ask(
        r#"{"categories": [{"name": "first band", "terms": ["guitar", "flute", "violin", "trumpet"]}, {"name": "second band", "terms": ["harp", "saxophone", "cello", "clarinet"]}]}"#,
    );
    assert_eq!(verdict(&r), Verdict::Kept { answer: AnswerKind::Grouping, because: KeptBecause::CoMentionsAgree });
    assert!(!r.diagnostics.one_call.as_ref().unwrap().objective.unwrap().fits());
    let first = r.assignments[0].cluster;
    assert_eq!(r.clusters[first as usize].name, "first band");
    for (i, caption) in caps.iter().enumerate() {
        assert_eq!(r.assignments[i].cluster == first, band_of[i] == 0, "caption {i}: {caption}");
    }

    // Strings against wind splits every band: the co-mentions do not vouch for it.
    let r = ask(
        r#"{"categories": [{"name": "strings", "terms": ["guitar", "violin", "harp", "cello"]}, {"name": "wind", "terms": ["flute", "trumpet", "saxophone", "clarinet"]}]}"#,
    );
    let report = r.diagnostics.one_call.unwrap();
    assert!(report.co_mention_ratio.is_some_and(|c| c > OneCallParams::default().co_mention_agreement), "{report:?}");
    assert_ne!(report.verdict, Verdict::Kept { answer: AnswerKind::Grouping, because: KeptBecause::CoMentionsAgree });
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
fn one_call_needs_values_conditioning() {
    let mut enc = crate::embed::text::test_encoder();
    let owned = band(&["guitar", "harp", "saxophone", "flute"]);
    let idx = index(&owned.iter().map(String::as_str).collect::<Vec<_>>(), &mut enc);
    let server = FakeServer::start(vec![]);
    let opts = one_call("musical instrument", Some(2)).with_conditioning(Conditioning::None);
    let e = run(&idx, &mut enc, &opts, Some(&client(&server))).unwrap_err();
    assert!(e.to_string().contains("--conditioning values"), "{e}");
    assert!(server.chat_requests().is_empty(), "refused before any call");
}
