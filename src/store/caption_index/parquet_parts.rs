//! The Parquet parts: their schema, writing one, and reading its columns back.

use std::fs::{self, File, OpenOptions};
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, FieldRef, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::{CaptionRecord, IndexError, PartEntry, Result, ROW_GROUP_ROWS};

/// Same shape pyarrow gives `pa.list_(pa.float32(), dim)`: child field "item", nullable.
pub(super) fn embedding_item_field() -> FieldRef {
    Arc::new(Field::new("item", DataType::Float32, true))
}

pub(super) fn part_schema(dim: usize) -> SchemaRef {
    let item = embedding_item_field();
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("caption", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, true),
        Field::new("embedding", DataType::FixedSizeList(item, dim as i32), false),
    ]))
}

pub(super) fn write_part_file(path: &Path, records: &[CaptionRecord], embeddings: &[f32], dim: usize) -> Result<()> {
    let perr = |e: parquet::errors::ParquetError| IndexError::Parquet { path: path.to_path_buf(), source: e };
    let schema = part_schema(dim);
    let item_field = embedding_item_field();
    // Dictionary encoding only pays off for labels (few distinct values); for ids, captions
    // and floats it costs time and is abandoned by the writer anyway.
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(ROW_GROUP_ROWS)
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(ColumnPath::from("label"), true)
        .build();
    let file =
        OpenOptions::new().write(true).create(true).truncate(true).open(path).map_err(|e| IndexError::io(path, e))?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(perr)?;

    // Chunked so the Arrow copy of the input never exceeds one row group.
    for (chunk, emb) in records.chunks(ROW_GROUP_ROWS).zip(embeddings.chunks(ROW_GROUP_ROWS * dim)) {
        let ids = StringArray::from_iter_values(chunk.iter().map(|r| r.id.as_str()));
        let captions = StringArray::from_iter_values(chunk.iter().map(|r| r.caption.as_str()));
        let labels: StringArray = chunk.iter().map(|r| r.label.as_deref()).collect();
        let values = Arc::new(Float32Array::from(emb.to_vec()));
        let embedding =
            FixedSizeListArray::try_new(item_field.clone(), dim as i32, values, None).map_err(|e| perr(e.into()))?;
        let columns: Vec<ArrayRef> = vec![Arc::new(ids), Arc::new(captions), Arc::new(labels), Arc::new(embedding)];
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| perr(e.into()))?;
        writer.write(&batch).map_err(perr)?;
    }
    let file = writer.into_inner().map_err(perr)?;
    file.sync_all().map_err(|e| IndexError::io(path, e))
}

/// Root column indices of the four index columns within a part file.
pub(super) struct PartColumns {
    pub(super) id: usize,
    pub(super) caption: usize,
    pub(super) label: usize,
    pub(super) embedding: usize,
}

pub(super) fn corrupt(path: &Path, message: impl ToString) -> IndexError {
    IndexError::CorruptPart { path: path.to_path_buf(), message: message.to_string() }
}

/// Opens a listed part and checks its schema and row count against the manifest.
/// Runs a part's reading; a panic inside the Parquet or Arrow readers, which some corrupt files
/// cause (found by `tests/fuzz.rs` in parquet 57), becomes an error naming the part.
pub(super) fn guard<T>(path: &Path, read: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("a panic");
            Err(corrupt(path, format!("the Parquet reader failed on it: {what}")))
        }
    }
}

// Parts are a few MB (2,048 rows), so reading one whole costs less than a second buffer loop.
pub(super) fn file_crc32(path: &Path) -> std::io::Result<u32> {
    Ok(crc32fast::hash(&fs::read(path)?))
}

/// A part whose bytes changed after it was written (bit rot, a partial copy, an edit) is an
/// error naming it, before any of its rows are read.
pub(super) fn check_crc32(path: &Path, part: &PartEntry) -> Result<()> {
    let Some(expected) = part.crc32 else { return Ok(()) };
    let actual = file_crc32(path).map_err(|e| corrupt(path, format!("cannot open: {e}")))?;
    if actual != expected {
        return Err(corrupt(
            path,
            format!("checksum mismatch: the manifest records CRC-32 {expected:08x}, the file has {actual:08x}; the part changed after it was written (rebuild the index, or restore the part)"),
        ));
    }
    Ok(())
}

pub(super) fn open_part(
    path: &Path,
    part: &PartEntry,
    dim: usize,
) -> Result<(ParquetRecordBatchReaderBuilder<File>, PartColumns)> {
    let file = File::open(path).map_err(|e| corrupt(path, format!("cannot open: {e}")))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| corrupt(path, e))?;
    let rows = builder.metadata().file_metadata().num_rows();
    if usize::try_from(rows).ok() != Some(part.rows) {
        return Err(corrupt(path, format!("file has {rows} rows, manifest lists {}", part.rows)));
    }
    let schema = builder.schema().clone();
    let find = |name: &str| schema.index_of(name).map_err(|_| corrupt(path, format!("missing column '{name}'")));
    let cols = PartColumns {
        id: find("id")?,
        caption: find("caption")?,
        label: find("label")?,
        embedding: find("embedding")?,
    };
    match schema.field(cols.embedding).data_type() {
        DataType::FixedSizeList(item, size) if item.data_type() == &DataType::Float32 && *size as usize == dim => {}
        other => {
            return Err(corrupt(
                path,
                format!("column 'embedding' has type {other}, expected fixed_size_list<float>[{dim}]"),
            ))
        }
    }
    Ok((builder, cols))
}

/// Visits a string column whichever Arrow string layout a writer chose.
pub(super) fn for_each_str(
    array: &ArrayRef,
    path: &Path,
    name: &str,
    mut f: impl FnMut(Option<&str>) -> Result<()>,
) -> Result<()> {
    if let Some(a) = array.as_string_opt::<i32>() {
        a.iter().try_for_each(&mut f)
    } else if let Some(a) = array.as_string_opt::<i64>() {
        a.iter().try_for_each(&mut f)
    } else if let Some(a) = array.as_string_view_opt() {
        a.iter().try_for_each(&mut f)
    } else {
        Err(corrupt(path, format!("column '{name}' has type {}, expected utf8", array.data_type())))
    }
}

/// Copies a batch's embeddings straight from the Arrow values buffer: the only copy between
/// the Parquet decoder and the final matrix.
pub(super) fn append_embeddings(array: &ArrayRef, dim: usize, path: &Path, out: &mut Vec<f32>) -> Result<()> {
    let list =
        array.as_fixed_size_list_opt().ok_or_else(|| corrupt(path, "column 'embedding' is not a fixed-size list"))?;
    if list.null_count() > 0 {
        return Err(corrupt(path, "null embedding"));
    }
    let values = list
        .values()
        .as_primitive_opt::<Float32Type>()
        .ok_or_else(|| corrupt(path, "embedding values are not float32"))?;
    // Slicing a FixedSizeListArray slices its child, so the child holds exactly len × dim values.
    if values.len() != list.len() * dim {
        return Err(corrupt(path, "embedding values do not match row count"));
    }
    if values.null_count() > 0 {
        return Err(corrupt(path, "null value inside an embedding"));
    }
    out.extend_from_slice(values.values());
    Ok(())
}
