# Image of the analytics scanner: the one-shot atomic scanner (scan), the REST
# service (server) and the analytics emulator, one multi-call binary.
#
#   scripts/build-image.sh              # here: no registry, uses local/golang
#   docker build -t analytics-scanner . # anywhere golang:1.26 can be pulled
#
# The builder image is an ARG so that machines without a registry can build
# this file unchanged with a local stand-in (scripts/go-builder-image.sh).
ARG GO_IMAGE=golang:1.26

FROM ${GO_IMAGE} AS builder
WORKDIR /src
# Static binaries: the final image has no libc. The SQLite driver is pure Go
# (modernc.org/sqlite), so nothing needs cgo.
ENV CGO_ENABLED=0
# Modules in a layer of their own: it is rebuilt only when go.mod or go.sum
# change, not on every source edit.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The build has no .git, so the toolchain cannot record the revision that
# --version prints; the commit comes in as a build argument instead.
ARG GIT_SHA=unknown
# One multi-call binary (cmd/analytics-scanner) is scan, server and
# analytics-emulator, by the name it is run as: the three share most of their
# code, and three static copies of it made the image twice as large. The
# links keep every path the same (atomic's INSTALL/UNINSTALL labels and the
# atomic.d config it writes call /usr/local/bin/scan). The development tools
# under cmd/ (bench, chaos) stay out of the image. The same RUN makes the few
# files the scratch image needs, since scratch has no shell to make them
# itself; one RUN instead of several keeps the layer count (each a full copy
# under vfs) down.
RUN mkdir -p /out \
    && go build -trimpath -ldflags "-s -w -X github.com/centos-pipeline/analytics-scanner/internal/version.Revision=${GIT_SHA}" -o /out/analytics-scanner ./cmd/analytics-scanner \
    && ln -s analytics-scanner /out/scan \
    && ln -s analytics-scanner /out/server \
    && ln -s analytics-scanner /out/analytics-emulator \
    && mkdir -p /rootfs/etc /rootfs/tmp /data-dir \
    && chmod 1777 /rootfs/tmp \
    && printf 'root:x:0:0:root:/root:/sbin/nologin\nscanner:x:10001:10001:analytics scanner:/data:/sbin/nologin\n' >/rootfs/etc/passwd \
    && printf 'root:x:0:\nscanner:x:10001:\n' >/rootfs/etc/group

# No shell, no package manager: only the binaries and what they read.
FROM scratch

ARG GIT_URL=https://github.com/centos-pipeline/analytics-scanner
ARG GIT_SHA=unknown
ARG EMAIL_IDS=analytics-scanner-maintainers@example.com

# The server calls the analytics server over HTTPS.
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# /etc/passwd and /etc/group name the non-root user; /tmp (mode 1777) is for
# Go's os.TempDir and SQLite's temp files. Copied as one tree because COPY of a
# single directory copies only its contents and would make /tmp 0755.
COPY --from=builder /rootfs/ /
# The server keeps its queue and database here; it must be writable by the
# non-root user, also when a named volume is mounted over it (a new volume
# takes the image directory's owner).
COPY --from=builder --chown=10001:10001 /data-dir /data
COPY --from=builder /out/ /usr/local/bin/

ENV SCANNER_DATA_DIR=/data

# The server runs as non-root. Whatever must touch root-owned host paths runs
# as root by asking for it on its own `docker run`:
# - the one-shot scan reaches the host's /var/run/docker.sock, so the scanner
#   config that `scan install` writes to /etc/atomic.d/ puts "--user", "0" in
#   its custom_args (atomic adds those to its `docker run`);
# - INSTALL/UNINSTALL write to the bind-mounted /etc/atomic.d/, root-owned on
#   the host, so their labels below pass --user 0 themselves.
USER 10001:10001

EXPOSE 8080

# `atomic install IMAGE` / `atomic uninstall IMAGE` run these with $IMAGE
# replaced by the image name; \$ keeps docker build from expanding it.
LABEL INSTALL="docker run --rm --user 0 -v /etc/atomic.d/:/host/etc/atomic.d/ \$IMAGE /usr/local/bin/scan install --root /host --image \$IMAGE" \
      UNINSTALL="docker run --rm --user 0 -v /etc/atomic.d/:/host/etc/atomic.d/ \$IMAGE /usr/local/bin/scan uninstall --root /host" \
      git-url="${GIT_URL}" \
      git-sha="${GIT_SHA}" \
      email-ids="${EMAIL_IDS}" \
      org.opencontainers.image.title="analytics-scanner" \
      org.opencontainers.image.description="atomic scanner that registers image labels with an analytics server, and its REST service" \
      org.opencontainers.image.source="${GIT_URL}" \
      org.opencontainers.image.url="${GIT_URL}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.authors="${EMAIL_IDS}"

CMD ["/usr/local/bin/server"]
