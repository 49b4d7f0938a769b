//! The `clusterby` command line: parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use clusterby::cli;
use clusterby::cluster::{Linkage, Method, NoisePolicy};
use clusterby::conditioning::{CaptionWeight, Conditioning};
use clusterby::query::{GroupingCheck, NamerKind, Space};

#[derive(Parser)]
#[command(name = "clusterby", version, about = "Cluster images by a criterion stated in words, and name the clusters")]
struct Cli {
    /// Path to libonnxruntime.so (else CLUSTERBY_ORT_LIB / ORT_DYLIB_PATH, the cache, next to the binary).
    #[arg(long, global = true, value_name = "PATH")]
    ort_lib: Option<PathBuf>,
    /// Inference threads (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List, download and locate models.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Embed texts with a text encoder and write a float32 .npy matrix (rows in input order).
    EmbedText {
        /// Texts to embed (or use --file).
        texts: Vec<String>,
        /// A file with one text per line.
        #[arg(long, short)]
        file: Option<PathBuf>,
        /// Output .npy file.
        #[arg(long, short, default_value = "embeddings.npy")]
        out: PathBuf,
        /// Catalogue model name or a bring-your-own model folder.
        #[arg(long, short, default_value = "all-MiniLM-L6-v2")]
        model: String,
        /// Texts per encoder batch.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
    },
    /// Index a captions file (IC|TC step1_result.jsonl, JSONL with id/caption[/label], or CSV)
    /// or a folder of images (CLIP embeddings, optional captions); re-running only encodes what
    /// is new or changed.
    Index(IndexArgs),
    /// Join indexes of disjoint rows (the shards of one captions file or image folder, `index
    /// --shard`) into one index. Parts are hard-linked where the file system allows, so no embedding is copied; a
    /// merge killed midway resumes when run again.
    Merge {
        /// The source indexes.
        #[arg(required = true)]
        sources: Vec<PathBuf>,
        /// The merged index folder (created, or resumed).
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Cluster an index by a criterion and name the clusters.
    Cluster(ClusterCmd),
    /// Write an HTML gallery of a result: one section per cluster with thumbnails and captions.
    Report {
        /// A result JSON written by `cluster --json`.
        result: PathBuf,
        /// The index the result came from.
        #[arg(long)]
        index: PathBuf,
        /// The HTML file to write.
        #[arg(long)]
        html: PathBuf,
        /// Thumbnails per cluster.
        #[arg(long, default_value_t = 24)]
        per_cluster: usize,
    },
    /// Draw a result as SVG: the 2-D map of the conditioned features, the cluster sizes, or the
    /// confusion matrix against the index's labels.
    Plot {
        /// A result JSON written by `cluster --json`.
        result: PathBuf,
        /// The caption index the result came from.
        #[arg(long)]
        index: PathBuf,
        /// The SVG file to write.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = cli::PlotKind::Map)]
        kind: cli::PlotKind,
    },
    /// The explorer: a local web app to query a caption index criterion after criterion, compare
    /// two criteria, see the map and export (binds 127.0.0.1; see docs/explorer.md).
    Serve {
        /// A caption index.
        index: PathBuf,
        /// Folder with the images, each at DIR/<id>, for thumbnails.
        #[arg(long)]
        images: Option<PathBuf>,
        /// Address to bind; anything but loopback needs --public.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port (0 picks a free one).
        #[arg(long, default_value_t = 8787)]
        port: u16,
        /// Allow a non-loopback --host; every request then needs the printed access token.
        #[arg(long)]
        public: bool,
        /// The endpoint for the one call the page offers (nothing is called unless asked).
        #[command(flatten)]
        llm: LlmArgs,
    },
    /// The full IC|TC pipeline as a baseline: 2N+1 LLM calls (label each caption, merge labels
    /// into K names, assign each caption), answers cached so a killed run resumes.
    Ictc {
        /// A caption index.
        index: PathBuf,
        /// The criterion, in words.
        #[arg(long)]
        by: String,
        /// Number of clusters.
        #[arg(short)]
        k: usize,
        #[command(flatten)]
        llm: LlmArgs,
        /// Answer cache (default: INDEX/llm-cache.jsonl).
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Only the first N captions.
        #[arg(long)]
        limit: Option<usize>,
        /// Write the result as JSON (`-` for standard output; the table then goes to standard error).
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Score a result against labels: Hungarian ACC, NMI, ARI.
    Eval {
        /// A result JSON written by `cluster --json` or `ictc --json`.
        result: PathBuf,
        /// An index folder (its labels) or a labels file (CSV or JSONL).
        #[arg(long)]
        labels: PathBuf,
        /// Label column of a CSV labels file (default `label`).
        #[arg(long)]
        column: Option<String>,
        /// Also write the scores as JSON (`-` for standard output).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Also score the cluster names: the mean cosine between each name and the class its
        /// cluster is matched to (needs the default text model).
        #[arg(long)]
        names: bool,
    },
    /// Run every conditioning × clustering method on labelled caption sets and write the
    /// ablation table (Markdown + JSON), next to IC|TC's published answers.
    Ablate {
        /// JSON list of {name, file, criterion, k}.
        #[arg(long, default_value = "benches/ablation-sets.json")]
        sets: PathBuf,
        /// Folder holding the sets' files.
        #[arg(long)]
        data: PathBuf,
        /// Where ablation.md and ablation.json are written.
        #[arg(long, default_value = "notebooks")]
        out: PathBuf,
        /// Where the sets' indexes are cached.
        #[arg(long, default_value = "target/ablation")]
        work: PathBuf,
        /// Only these sets (by name).
        #[arg(long)]
        only: Vec<String>,
        /// Only these clustering methods.
        #[arg(long, value_enum)]
        method: Vec<Method>,
        /// Also name with the LLM, run the one call, and run IC|TC with it (needs
        /// --llm-base-url or CLUSTERBY_LLM_BASE_URL).
        #[arg(long)]
        with_llm: bool,
        #[command(flatten)]
        llm: LlmArgs,
        /// Run IC|TC only on sets of at most this many captions (it makes 2N+1 calls).
        #[arg(long, default_value_t = 1000)]
        ictc_max_n: usize,
    },
    /// Built-in demo: 80 scene captions clustered by "location" and by "mood".
    Demo {
        /// Where to keep the demo index (default: the cache).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print a shell completion script (e.g. `clusterby completions bash > /etc/bash_completion.d/clusterby`).
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
}

#[derive(Args)]
struct IndexArgs {
    /// A captions file, or a folder of images.
    input: PathBuf,
    /// The index folder to create or extend.
    #[arg(long, short)]
    out: PathBuf,
    /// Index only shard I of N (0 ≤ I < N): the captions whose id, or the images whose path
    /// under the folder, hashes to I (64-bit FNV-1a modulo N). Stable and disjoint, so N runs,
    /// on one machine or many, cover the input once; join them with `merge`.
    #[arg(long, value_name = "I/N")]
    shard: Option<clusterby::store::shard::Shard>,
    /// Text model for captions.
    #[arg(long, short, default_value = "all-MiniLM-L6-v2")]
    model: String,
    /// Images: CLIP model, a catalogue name or a folder with vision_model.onnx,
    /// text_model.onnx, tokenizer.json and preprocessor_config.json.
    #[arg(long, default_value = "clip-vit-base-patch32")]
    clip: String,
    /// Images: labels from this CSV (a file-name column plus label columns) instead of
    /// `{number}_{class}.ext` file names.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Images: which CSV column is the label stored in the index (default `label`, else the first).
    #[arg(long)]
    label_column: Option<String>,
    /// Images per encoder batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Images: import existing captions (ids matched to image paths or file names).
    #[arg(long)]
    captions: Option<PathBuf>,
    /// Images: caption each image once with an OpenAI-compatible vision endpoint.
    #[arg(long, value_enum)]
    captioner: Option<Captioner>,
    /// Captioner endpoint, e.g. http://127.0.0.1:11434/v1. Give it several times for a pool of
    /// servers of one model: each image goes to the least-loaded one, and an unreachable one is
    /// taken out and its images sent to the others.
    #[arg(long, env = "CLUSTERBY_CAPTIONER_BASE_URL", default_value = "http://127.0.0.1:8080/v1", num_args = 1, action = clap::ArgAction::Append)]
    base_url: Vec<String>,
    /// Captioner model name, e.g. llava.
    #[arg(long, env = "CLUSTERBY_CAPTIONER_MODEL", default_value = "default")]
    captioner_model: String,
    /// Environment variable holding the captioner's API key (its value is never printed).
    #[arg(long, default_value = "CLUSTERBY_LLM_API_KEY")]
    captioner_api_key_env: String,
    /// The captioning prompt (default: a neutral description of the image).
    #[arg(long)]
    caption_prompt: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Captioner {
    /// Any OpenAI-compatible chat endpoint with image input (Ollama, vLLM, llama.cpp, OpenAI).
    Openai,
}

/// How the partition is formed.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StrategyChoice {
    /// one-call when an LLM endpoint is named on a caption index with k-means, else zero-call.
    Auto,
    /// Embeddings only: no LLM call shapes the partition.
    ZeroCall,
    /// One LLM call groups the criterion's values into K categories (needs an endpoint).
    OneCall,
}

#[derive(Args)]
struct ClusterCmd {
    /// An index folder (caption or image index).
    index: PathBuf,
    /// The criterion, in words ("mood", "location", "musical instrument").
    #[arg(long)]
    by: String,
    /// Number of clusters (default: chosen by silhouette; HDBSCAN and DBSCAN find their own, and
    /// with -k HDBSCAN keeps the k most stable clusters of its condensed tree).
    #[arg(short)]
    k: Option<usize>,
    /// Clustering method.
    #[arg(long, value_enum, default_value_t = Method::KMeans)]
    method: Method,
    /// How the partition is formed.
    #[arg(long, value_enum, default_value_t = StrategyChoice::Auto)]
    strategy: StrategyChoice,
    /// How the criterion conditions the embeddings.
    #[arg(long, value_enum, default_value_t = Conditioning::Values)]
    conditioning: Conditioning,
    /// A criterion to ignore ("gender"); may be repeated.
    #[arg(long)]
    exclude: Vec<String>,
    /// Weight of the caption embedding against the criterion values: auto (measured from how
    /// much the two agree) or a number in [0, 1].
    #[arg(long, default_value = "auto", value_parser = parse_caption_weight)]
    caption_weight: CaptionWeight,
    /// Seed of every random choice (same seed, same result).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// DBSCAN/HDBSCAN: the smallest cluster; smaller groups are noise (default: a quarter of
    /// n / K, at least 5; K from -k, else the largest K automatic selection tries).
    #[arg(long)]
    min_cluster_size: Option<usize>,
    /// DBSCAN: neighbours a core point needs, itself included (default 5); HDBSCAN: the
    /// neighbourhood of its core distance (default: the smallest cluster, at most 20).
    #[arg(long)]
    min_samples: Option<usize>,
    /// DBSCAN: the radius in the density space, the features' 10 leading principal coordinates
    /// (default: the radius at which the most clusters stand apart).
    #[arg(long)]
    eps: Option<f32>,
    /// DBSCAN/HDBSCAN: put each noise row in its nearest cluster, or keep it as cluster -1.
    #[arg(long, value_enum, default_value_t = NoisePolicy::Assign)]
    noise: NoisePolicy,
    /// Automatic K: the largest K tried (default min(30, sqrt(n))); for DBSCAN/HDBSCAN without -k
    /// it also sets the smallest cluster's default (n / 4 K_max).
    #[arg(long)]
    k_max: Option<usize>,
    /// Agglomerative: how cluster distances are measured.
    #[arg(long, value_enum, default_value_t = Linkage::Ward)]
    linkage: Linkage,
    /// Who names the clusters (llm: one call; keyword names on failure).
    #[arg(long, value_enum, default_value_t = NamerKind::Keywords)]
    namer: NamerKind,
    #[command(flatten)]
    llm: LlmArgs,
    /// Most criterion values listed in the one call (about 7 tokens each, and up to 6 more in
    /// the answer); fewer where the server's context window holds fewer (see --llm-context).
    #[arg(long, default_value_t = clusterby::query::DEFAULT_LLM_VALUES)]
    llm_values: usize,
    /// Whether the one call's grouping is checked against the data before it is kept.
    #[arg(long, value_enum, default_value_t = GroupingCheck::Checked)]
    llm_grouping: GroupingCheck,
    /// Image indexes: cluster the image embeddings, the captions, or both
    /// (default: both when every image has a caption, else image).
    #[arg(long, value_enum)]
    space: Option<Space>,
    /// Write the result as JSON (`-` for standard output; the table then goes to standard error).
    #[arg(long)]
    json: Option<PathBuf>,
}

fn parse_caption_weight(s: &str) -> Result<CaptionWeight, String> {
    s.parse()
}

/// The OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp server, OpenAI).
#[derive(Args)]
struct LlmArgs {
    /// Base URL including /v1, e.g. http://127.0.0.1:11434/v1 for Ollama [default:
    /// http://127.0.0.1:8080/v1]. Naming one makes `cluster` spend its one call (--strategy auto).
    #[arg(long, env = "CLUSTERBY_LLM_BASE_URL")]
    llm_base_url: Option<String>,
    /// Model name as the server knows it.
    #[arg(long, env = "CLUSTERBY_LLM_MODEL", default_value = "default")]
    llm_model: String,
    /// Environment variable holding the API key (its value is never printed).
    #[arg(long, default_value = "CLUSTERBY_LLM_API_KEY")]
    llm_api_key_env: String,
    /// Seconds before one call is abandoned (then retried); for a streamed answer, seconds
    /// without a token.
    #[arg(long, default_value_t = 120.0)]
    llm_timeout: f64,
    /// Seconds one call may take in all, retries included (a server that keeps a stream alive
    /// forever is cut off here).
    #[arg(long, default_value_t = clusterby::llm::DEFAULT_DEADLINE.as_secs_f64())]
    llm_deadline: f64,
    /// Retries of a failed call (429, 5xx, timeouts, refused connections).
    #[arg(long, default_value_t = 3)]
    llm_retries: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 4)]
    llm_concurrency: usize,
    /// Tokens the server holds per request (prompt and answer), for servers that do not say
    /// (llama.cpp, vLLM, TGI and Ollama are asked); the one call's prompt is fitted to it.
    #[arg(long)]
    llm_context: Option<u32>,
}

const DEFAULT_LLM_BASE_URL: &str = "http://127.0.0.1:8080/v1";

impl LlmArgs {
    /// Whether the user named an endpoint (an empty CLUSTERBY_LLM_BASE_URL does not count).
    fn endpoint_given(&self) -> bool {
        self.llm_base_url.as_deref().is_some_and(|u| !u.trim().is_empty())
    }

    fn config(&self) -> Result<clusterby::llm::LlmConfig, String> {
        if !(self.llm_timeout.is_finite() && self.llm_timeout > 0.0) {
            return Err(format!("--llm-timeout must be a positive number of seconds, not {}", self.llm_timeout));
        }
        if !(self.llm_deadline.is_finite() && self.llm_deadline > 0.0) {
            return Err(format!("--llm-deadline must be a positive number of seconds, not {}", self.llm_deadline));
        }
        if self.llm_context == Some(0) {
            return Err("--llm-context must be at least 1 (tokens per request)".into());
        }
        let base_url = self.llm_base_url.as_deref().filter(|u| !u.trim().is_empty()).unwrap_or(DEFAULT_LLM_BASE_URL);
        Ok(clusterby::llm::LlmConfig::new(base_url, &self.llm_model)
            .with_api_key_env(&self.llm_api_key_env)
            .with_timeout(std::time::Duration::from_secs_f64(self.llm_timeout))
            .with_deadline(std::time::Duration::from_secs_f64(self.llm_deadline))
            .with_max_retries(self.llm_retries)
            .with_concurrency(self.llm_concurrency)
            .with_context_window(self.llm_context))
    }
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Show the catalogue and what is installed.
    List,
    /// Download a model from the Hugging Face hub (honours HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE).
    Pull {
        /// A catalogue name (see `models list`).
        name: String,
    },
    /// Print the folder of an installed model.
    Path {
        /// A catalogue name.
        name: String,
    },
    /// Re-hash an installed model's files against its manifest.
    Verify {
        /// A catalogue name.
        name: String,
    },
}

fn index(ctx: &cli::Context, a: IndexArgs) -> cli::CliResult {
    if !a.input.is_dir() {
        return cli::index(ctx, &a.input, &a.out, &a.model, a.shard);
    }
    let captioners = match a.captioner {
        Some(Captioner::Openai) => a
            .base_url
            .into_iter()
            .map(|url| {
                clusterby::llm::LlmConfig::new(url, a.captioner_model.clone())
                    .with_api_key_env(a.captioner_api_key_env.clone())
            })
            .collect(),
        None => Vec::new(),
    };
    cli::index_images(
        ctx,
        cli::ImageIndexArgs {
            root: &a.input,
            out: &a.out,
            clip: &a.clip,
            text_model: &a.model,
            labels_csv: a.labels.as_deref(),
            label_column: a.label_column.as_deref(),
            batch_size: a.batch_size,
            captions: a.captions.as_deref(),
            captioners,
            caption_prompt: a.caption_prompt.as_deref(),
            shard: a.shard,
        },
    )
}

fn cluster(ctx: &cli::Context, a: ClusterCmd) -> cli::CliResult {
    let llm = a.llm.config()?;
    let strategy = match a.strategy {
        StrategyChoice::Auto => None,
        StrategyChoice::ZeroCall => Some(clusterby::query::Strategy::ZeroCall),
        StrategyChoice::OneCall => Some(clusterby::query::Strategy::OneCall),
    };
    cli::cluster(
        ctx,
        a.space,
        cli::ClusterArgs {
            index_dir: &a.index,
            namer: a.namer,
            llm: Some(llm),
            criterion: &a.by,
            k: a.k,
            method: a.method,
            strategy,
            conditioning: a.conditioning,
            llm_endpoint_given: a.llm.endpoint_given(),
            exclude: a.exclude,
            caption_weight: a.caption_weight,
            seed: a.seed,
            one_call: clusterby::query::OneCallParams::default()
                .with_values(a.llm_values)
                .with_grouping(a.llm_grouping),
            settings: clusterby::query::MethodSettings {
                min_cluster_size: a.min_cluster_size,
                min_samples: a.min_samples,
                eps: a.eps,
                linkage: a.linkage,
                noise: a.noise,
                k_max: a.k_max,
            },
            json: a.json.as_deref(),
        },
    )
}

fn run(cli: Cli) -> cli::CliResult {
    let ctx = cli::Context::new(cli.ort_lib, cli.threads);
    match cli.command {
        Command::Models { action } => match action {
            ModelsAction::List => cli::models_list(),
            ModelsAction::Pull { name } => cli::models_pull(&name),
            ModelsAction::Path { name } => cli::models_path(&name),
            ModelsAction::Verify { name } => cli::models_verify(&name),
        },
        Command::EmbedText { texts, file, out, model, batch_size } => {
            cli::embed_text(&ctx, &texts, file.as_deref(), &out, &model, batch_size)
        }
        Command::Index(a) => index(&ctx, a),
        Command::Merge { sources, out } => cli::merge(&ctx, &sources, &out),
        Command::Report { result, index, html, per_cluster } => cli::report(&ctx, &result, &index, &html, per_cluster),
        Command::Plot { result, index, out, kind } => cli::plot(&ctx, &result, &index, &out, kind),
        Command::Cluster(a) => cluster(&ctx, a),
        Command::Serve { index, images, host, port, public, llm } => {
            let llm = llm.llm_base_url.is_some().then(|| llm.config()).transpose()?;
            clusterby::explorer::serve(
                &ctx,
                &clusterby::explorer::ServeOptions { index, images, host, port, public, llm },
            )
        }
        Command::Ictc { index, by, k, llm, cache, limit, json } => cli::ictc(
            &ctx,
            cli::IctcArgs {
                index_dir: &index,
                criterion: &by,
                k,
                llm: llm.config()?,
                cache: cache.as_deref(),
                limit,
                json: json.as_deref(),
            },
        ),
        Command::Eval { result, labels, column, json, names } => cli::eval(
            &ctx,
            cli::EvalArgs { result: &result, labels: &labels, column: column.as_deref(), json: json.as_deref(), names },
        ),
        Command::Ablate { sets, data, out, work, only, method, with_llm, llm, ictc_max_n } => cli::ablate(
            &ctx,
            cli::AblateArgs {
                sets_file: &sets,
                data_dir: &data,
                out_dir: &out,
                work_dir: &work,
                only: &only,
                methods: &method,
                llm: if with_llm { Some(llm.config()?) } else { None },
                ictc_max_n,
            },
        ),
        Command::Demo { out } => cli::demo(&ctx, out.as_deref()),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "clusterby", &mut std::io::stdout());
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    clusterby::util::allocator::reuse_freed_buffers();
    quiet_reader_panics();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The Parquet and Arrow readers panic on some corrupt files; the index turns those panics into
/// an error naming the part, so their panic message would only look like a crash.
fn quiet_reader_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let file = info.location().map(|l| l.file()).unwrap_or("");
        if !(file.contains("/parquet-") || file.contains("/arrow-")) {
            default(info);
        }
    }));
}
