//! A training state file (`train-state.safetensors`): named f32 tensors (parameters, Adam
//! moments) and one `__metadata__["state"]` JSON entry with everything else. Written atomically.

use std::collections::HashMap;
use std::path::Path;

use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};

use super::{bad, write_atomic};
use crate::error::{Error, Result};

const STATE_KEY: &str = "state";

/// Write `tensors` (name, shape, values) and `state` (JSON text) to `path` atomically.
pub fn write_state(
    path: &Path,
    tensors: &[(String, Vec<usize>, &[f32])],
    state: &str,
) -> Result<()> {
    let runtime = |e: String| Error::Runtime(format!("{}: {e}", path.display()));
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, shape, _), b) in tensors.iter().zip(&bytes) {
        let v = TensorView::new(Dtype::F32, shape.clone(), b)
            .map_err(|e| runtime(format!("tensor {name}: {e}")))?;
        views.push((name.clone(), v));
    }
    let meta = HashMap::from([(STATE_KEY.to_string(), state.to_string())]);
    let out = safetensors::serialize(views, Some(meta))
        .map_err(|e| runtime(format!("cannot encode safetensors: {e}")))?;
    write_atomic(path, &out)
}

/// A state file as read back.
pub struct StateFile {
    bytes: Vec<u8>,
    /// The `state` JSON text.
    pub state: String,
}

impl StateFile {
    pub fn read(path: &Path) -> Result<StateFile> {
        let bytes = super::budget::read_input(path, "a training state file")?;
        let (_, meta) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(path, format!("not a training state file: {e}")))?;
        let state = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get(STATE_KEY))
            .cloned()
            .ok_or_else(|| bad(path, "not a training state file (no __metadata__ state)"))?;
        SafeTensors::deserialize(&bytes)
            .map_err(|e| bad(path, format!("not a training state file: {e}")))?;
        Ok(StateFile { bytes, state })
    }
    /// The f32 tensor `name`: (shape, values); None when absent or not f32.
    pub fn tensor(&self, name: &str) -> Option<(Vec<usize>, Vec<f32>)> {
        let st = SafeTensors::deserialize(&self.bytes).ok()?;
        let t = st.tensor(name).ok()?;
        if t.dtype() != Dtype::F32 {
            return None;
        }
        let v = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Some((t.shape().to_vec(), v))
    }
}

/// The `state` JSON of the state file at `path`, reading only its header (None when there is
/// no readable state file).
pub fn peek_state(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).ok()?;
    let n = u64::from_le_bytes(len);
    if n > 100 << 20 {
        return None;
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&header).ok()?;
    v.get("__metadata__")?
        .get(STATE_KEY)?
        .as_str()
        .map(str::to_string)
}
