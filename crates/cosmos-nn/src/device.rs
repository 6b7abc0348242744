//! Picking a burn device from a user-facing name (`cpu`, `wgpu`, `cuda:1`).
//!
//! burn 0.22 dispatches the backend at run time from the [`Device`], so model code never names
//! a backend: the edge of the program (CLI flag, example argument) calls [`parse_device`] and
//! builds every module and tensor on the device it returns.

use burn::tensor::Device;

use crate::{Error, Result};

/// The device names this build was compiled with, for help texts and error messages.
pub fn available_devices() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "flex") {
        names.push("cpu");
    }
    if cfg!(feature = "wgpu") {
        names.extend(["wgpu", "wgpu-cpu"]);
    }
    if cfg!(feature = "cuda") {
        names.push("cuda[:N]");
    }
    names
}

/// Parses `cpu` (burn's flex backend, the default), `wgpu` (the default GPU adapter),
/// `wgpu-cpu` (a software Vulkan adapter such as llvmpipe) or `cuda[:N]`.
///
/// Returns [`Error::Device`] when the name is unknown or its backend was not compiled in.
pub fn parse_device(name: &str) -> Result<Device> {
    let unavailable = |why: &str| Error::Device(name.to_string(), why.to_string());
    let (kind, index) = match name.split_once(':') {
        Some((kind, index)) => {
            let index: usize = index
                .parse()
                .map_err(|_| unavailable("the index after ':' must be a number"))?;
            (kind, Some(index))
        }
        None => (name, None),
    };
    match kind {
        #[cfg(feature = "flex")]
        "cpu" | "flex" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(match index {
            Some(i) => Device::wgpu(burn::tensor::DeviceKind::DiscreteGpu(i)),
            None => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        }),
        #[cfg(feature = "wgpu")]
        "wgpu-cpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::Cpu)),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(index.unwrap_or(0))),
        _ => {
            let _ = index;
            Err(unavailable(&format!(
                "this build knows {}",
                available_devices().join(", ")
            )))
        }
    }
}

/// The embedded default: burn's flex CPU backend.
#[cfg(feature = "flex")]
pub fn default_device() -> Device {
    Device::flex()
}
