# The `cosmos` CLI on Debian with FFmpeg's run-time libraries: the image the Kubernetes recipe in
# docs/scaling.md runs (`cosmos curate ... --shard "$JOB_COMPLETION_INDEX/16"`).
#
#   docker build -t cosmos-rs .          # a release build of the workspace: expect 20+ min on 2 cores
#   docker run --rm cosmos-rs --version
#   docker run --rm -v "$PWD/out:/work" cosmos-rs demo --out /work
#
# Debian 12 (bookworm) in both stages, so the FFmpeg 5.1 the binary is linked against in the
# builder is the one installed in the runtime image.
#
# Unverified: written where no Docker daemon could run, so it has not been built yet; `.ci/run`
# builds it and runs `cosmos --version` and `cosmos demo` in it when COSMOS_CI_DOCKER=1 and a
# daemon answers.

FROM rust:1.95-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      pkg-config clang libclang-dev \
      libavcodec-dev libavformat-dev libavutil-dev libswscale-dev \
      libavdevice-dev libavfilter-dev libswresample-dev libpostproc-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin cosmos \
 && install -m 0755 target/release/cosmos /usr/local/bin/cosmos

FROM debian:bookworm-slim
# FFmpeg's shared libraries (what the binary links), CA certificates for object stores over TLS.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libavcodec59 libavformat59 libavutil57 libswscale6 libavdevice59 libavfilter8 \
      libswresample4 libpostproc56 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=builder /usr/local/bin/cosmos /usr/local/bin/cosmos
RUN useradd --create-home --uid 1000 cosmos
USER cosmos
WORKDIR /work
ENTRYPOINT ["cosmos"]
CMD ["--help"]
