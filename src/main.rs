//! The `clusterby` command line: parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use clusterby::cli;

#[derive(Parser)]
#[command(name = "clusterby", version, about = "Cluster images by a criterion stated in words, and name the clusters")]
struct Cli {
    /// Path to libonnxruntime.so (else CLUSTERBY_ORT_LIB / ORT_DYLIB_PATH, the cache, next to the binary).
    #[arg(long, global = true, value_name = "PATH")]
    ort_lib: Option<PathBuf>,
    /// Inference threads (default: all cores).
    #[arg(long, global = true)]
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
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
    },
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Show the catalogue and what is installed.
    List,
    /// Download a model from the Hugging Face hub (honours HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE).
    Pull { name: String },
    /// Print the folder of an installed model.
    Path { name: String },
    /// Re-hash an installed model's files against its manifest.
    Verify { name: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = cli::Context::new(cli.ort_lib, cli.threads);
    let result = match cli.command {
        Command::Models { action } => match action {
            ModelsAction::List => cli::models_list(),
            ModelsAction::Pull { name } => cli::models_pull(&name),
            ModelsAction::Path { name } => cli::models_path(&name),
            ModelsAction::Verify { name } => cli::models_verify(&name),
        },
        Command::EmbedText { texts, file, out, model, batch_size } => {
            cli::embed_text(&ctx, &texts, file.as_deref(), &out, &model, batch_size)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
