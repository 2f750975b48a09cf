//! Errors of loading a bundle and of the engine's own operations. Errors inside a
//! decision are data ([`crate::DecisionError`]): a decision always comes back, as deny.

use std::path::PathBuf;

/// A bundle could not be loaded; the engine keeps what it had.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LoadError {
    /// A file could not be read.
    #[error("cannot read `{}`", path.display())]
    #[diagnostic(code(charter::runtime::io))]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `bundle.json` is not a bundle.
    #[error("`{}` is not a compiled Charter bundle: {message}", path.display())]
    #[diagnostic(
        code(charter::runtime::bad_bundle),
        help("build it with `charter build`, or pass the bundle's source folder")
    )]
    BadBundle {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The bundle was built for another format.
    #[error("`{found}` is not a bundle format this runtime reads (it reads `{expected}`)")]
    #[diagnostic(
        code(charter::runtime::format),
        help("rebuild the bundle with this version of `charter build`")
    )]
    Format {
        /// The format found.
        found: String,
        /// The format expected.
        expected: String,
    },
    /// The source folder does not compile.
    #[error("the bundle in `{}` does not compile: {count} error(s), first: {first}", path.display())]
    #[diagnostic(
        code(charter::runtime::compile),
        help("run `charter check` on the folder to see every diagnostic")
    )]
    Compile {
        /// The folder.
        path: PathBuf,
        /// How many errors.
        count: usize,
        /// The first error, `file:line: message`.
        first: String,
    },
    /// The compiled Cedar did not pass Cedar's checks.
    #[error("the bundle fails Cedar's validation: {message}")]
    #[diagnostic(code(charter::runtime::invalid))]
    Invalid {
        /// The first problem.
        message: String,
    },
    /// The bundle's signature is missing or does not verify with a trusted key.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Signature(#[from] charter_sign::SignatureError),
    /// The folder is not a bundle.
    #[cfg(feature = "compile")]
    #[error(transparent)]
    #[diagnostic(transparent)]
    Compiler(#[from] charter_compiler::LoadError),
    /// A source folder, in an engine built without the `compile` feature: only a built
    /// `bundle.json` can be loaded.
    #[cfg(not(feature = "compile"))]
    #[error("`{}` is a source folder; this engine loads only a built `bundle.json` (`charter build`)", path.display())]
    #[diagnostic(
        code(charter::runtime::not_compiled),
        help(
            "build the bundle with `charter build`, or enable charter-runtime's `compile` feature"
        )
    )]
    NotCompiled {
        /// The folder.
        path: PathBuf,
    },
    /// Loading failed inside Charter itself (a panic while compiling): a bug, reported
    /// like any failed load, so the running bundle keeps serving.
    #[error("loading `{}` failed inside charter: {message}", path.display())]
    #[diagnostic(
        code(charter::runtime::crashed),
        help("this is a bug in charter; the running bundle keeps serving. Please report it with the bundle")
    )]
    Crashed {
        /// The source.
        path: PathBuf,
        /// The panic's message.
        message: String,
    },
}

/// A problem with the fact store or the watcher.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EngineError {
    /// A facts file could not be read.
    #[error("cannot read `{}`", path.display())]
    #[diagnostic(code(charter::runtime::io))]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A facts file is not a map of developer ids to facts.
    #[error("`{}` is not a facts file: {message}", path.display())]
    #[diagnostic(
        code(charter::runtime::bad_facts),
        help("a facts file maps developer ids to their facts: {{\"dev-001\": {{\"agreement_expires\": \"2028-12-31\", …}}}}")
    )]
    BadFacts {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The engine has no source to watch or reload.
    #[error("the engine was not loaded from a path, so there is nothing to watch or reload")]
    #[diagnostic(code(charter::runtime::no_source))]
    NoSource,
    /// The file watcher could not start.
    #[error("cannot watch `{}`: {message}", path.display())]
    #[diagnostic(code(charter::runtime::watch))]
    Watch {
        /// The path.
        path: PathBuf,
        /// Why.
        message: String,
    },
}
