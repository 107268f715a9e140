//! Symbol files for the crash processor: a Breakpad [`SymbolSupplier`] that finds a
//! module's `.sym` by its debug file and debug id in the store, and one [`Symbolizer`] per
//! product that keeps each parsed file for the next dumps.
//!
//! A symbolizer also remembers the modules it found no symbols for, so an upload for a
//! product drops that product's symbolizer ([`Symbolizers::forget`]); the next dump gets a
//! fresh one. Its cache holds every file it parsed, so a symbolizer that has seen more than
//! [`MAX_MODULES`] modules is dropped too, which bounds the memory symbols take.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use relops_crash::{
    FileError, FileKind, LocateSymbolsResult, Module, SymbolError, SymbolFile, SymbolSupplier,
    Symbolizer,
};
use relops_store::{BlobStore, Db};
use sha2::{Digest, Sha256};

/// Modules a symbolizer may have looked up before it is replaced by an empty one.
pub(crate) const MAX_MODULES: usize = 256;

/// One symbolizer per product.
#[derive(Default)]
pub(crate) struct Symbolizers(Mutex<HashMap<String, Arc<Symbolizer>>>);

impl std::fmt::Debug for Symbolizers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Symbolizers").finish_non_exhaustive()
    }
}

impl Symbolizers {
    /// The product's symbolizer (a new one when none is kept or the kept one is full).
    pub(crate) fn of(&self, product: &str, db: &Db, blobs: &BlobStore) -> Arc<Symbolizer> {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = all.get(product)
            && s.stats().len() <= MAX_MODULES
        {
            return s.clone();
        }
        let s = Arc::new(Symbolizer::new(StoredSymbols {
            product: product.to_owned(),
            db: db.clone(),
            blobs: blobs.clone(),
        }));
        all.insert(product.to_owned(), s.clone());
        s
    }

    /// Drops the product's symbolizer: symbols arrived that it may have found missing.
    pub(crate) fn forget(&self, product: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(product);
    }
}

/// Symbol files of one product, from the `crash_symbols` table and the blob store.
struct StoredSymbols {
    product: String,
    db: Db,
    blobs: BlobStore,
}

#[async_trait]
impl SymbolSupplier for StoredSymbols {
    async fn locate_symbols(
        &self,
        module: &(dyn Module + Sync),
    ) -> Result<LocateSymbolsResult, SymbolError> {
        let (Some(file), Some(id)) = (module.debug_file(), module.debug_identifier()) else {
            return Err(SymbolError::NotFound);
        };
        let name = relops_crash::basename(&file);
        let id = relops_crash::breakpad_id(&id);
        let record = match self.db.symbols_of(&self.product, name, &id).await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(SymbolError::NotFound),
            Err(e) => {
                tracing::warn!(module = name, error = ?e, "cannot look up symbols");
                return Err(SymbolError::NotFound);
            }
        };
        let bytes = self.blobs.get_raw(&record.blob_key).await.map_err(|e| {
            tracing::warn!(module = name, error = ?e, "cannot read a symbol file");
            SymbolError::NotFound
        })?;
        if hex::encode(Sha256::digest(&bytes)) != record.sha256 {
            tracing::error!(
                module = name,
                key = record.blob_key,
                "a stored symbol file does not match its SHA-256: not used"
            );
            return Err(SymbolError::NotFound);
        }
        Ok(LocateSymbolsResult {
            symbols: SymbolFile::from_bytes(&bytes)?,
            extra_debug_info: None,
        })
    }

    async fn locate_file(
        &self,
        _module: &(dyn Module + Sync),
        _kind: FileKind,
    ) -> Result<std::path::PathBuf, FileError> {
        // Only Breakpad symbols are stored; native binaries are converted on upload.
        Err(FileError::NotFound)
    }
}
