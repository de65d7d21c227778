#!/bin/sh
# Builds the Debian package of tripline with dpkg-deb alone (no debhelper, no new dependency):
#
#   dist/build-deb.sh [OUTDIR]          (default dist/out; prints the path of the .deb)
#
# Needs go, gcc (cgo: the SQLite driver) and dpkg-deb. TRIPLINE_BIN=FILE packages that binary
# instead of building one (a pipeline that built and tested it already). The version is
# TRIPLINE_VERSION, else
# 0.0~gitDATE.COMMIT of HEAD (+dirty with uncommitted changes). Timestamps come from the commit
# (SOURCE_DATE_EPOCH), so two builds of one commit give the same package.
#
# What it installs:
#   /usr/bin/tripline
#   /usr/share/man/man8/tripline.8.gz                 tripline man
#   /usr/share/bash-completion/completions/tripline   tripline completion bash
#   /usr/share/zsh/vendor-completions/_tripline       tripline completion zsh
#   /usr/share/fish/vendor_completions.d/tripline.fish tripline completion fish
#   /usr/lib/systemd/system/tripline.service          dist/tripline.service (not enabled)
#   /etc/logrotate.d/tripline                         dist/logrotate (conffile)
#   /etc/tripline/policy.yaml                         dist/policy.yaml (conffile, extends: default)
set -eu
cd "$(dirname "$0")/.."
out=${1:-dist/out}
export CGO_ENABLED=1

need="dpkg-deb dpkg gzip md5sum"
[ -n "${TRIPLINE_BIN:-}" ] || need="$need go"
[ -n "${TRIPLINE_VERSION:-}" ] && [ -n "${SOURCE_DATE_EPOCH:-}" ] || need="$need git"
for tool in $need; do
	command -v "$tool" >/dev/null 2>&1 || { echo "build-deb: $tool is missing (apt-get install golang gcc dpkg git)" >&2; exit 1; }
done
arch=$(dpkg --print-architecture)
: "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH
if [ -z "${TRIPLINE_VERSION:-}" ]; then
	stamp=$(TZ=UTC git log -1 --date=format-local:%Y%m%d%H%M%S --format=%cd)
	TRIPLINE_VERSION="0.0~git$stamp.$(git rev-parse --short=12 HEAD)"
	[ -z "$(git status --porcelain --untracked-files=no)" ] || TRIPLINE_VERSION="$TRIPLINE_VERSION+dirty"
fi
case $TRIPLINE_VERSION in
	[0-9]*) ;;
	*) echo "build-deb: TRIPLINE_VERSION=$TRIPLINE_VERSION: a Debian version starts with a digit" >&2; exit 1 ;;
esac

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/pkg
if [ -n "${TRIPLINE_BIN:-}" ]; then
	bin=$TRIPLINE_BIN
else
	bin=$stage/tripline
	go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=$TRIPLINE_VERSION" -o "$bin" ./cmd/tripline
fi

install -D -m 0755 "$bin" "$pkg/usr/bin/tripline"
mkdir -p "$pkg/usr/share/man/man8" "$pkg/usr/share/bash-completion/completions" \
	"$pkg/usr/share/zsh/vendor-completions" "$pkg/usr/share/fish/vendor_completions.d"
"$bin" man | gzip -9n > "$pkg/usr/share/man/man8/tripline.8.gz"
"$bin" completion bash > "$pkg/usr/share/bash-completion/completions/tripline"
"$bin" completion zsh > "$pkg/usr/share/zsh/vendor-completions/_tripline"
"$bin" completion fish > "$pkg/usr/share/fish/vendor_completions.d/tripline.fish"
install -D -m 0644 dist/tripline.service "$pkg/usr/lib/systemd/system/tripline.service"
install -D -m 0644 dist/logrotate "$pkg/etc/logrotate.d/tripline"
install -D -m 0644 dist/policy.yaml "$pkg/etc/tripline/policy.yaml"
"$bin" policy check "$pkg/etc/tripline/policy.yaml" >/dev/null
install -D -m 0644 README.md "$pkg/usr/share/doc/tripline/README.md"
gzip -9n "$pkg/usr/share/doc/tripline/README.md"

mkdir -p "$pkg/DEBIAN"
printf '%s\n' /etc/logrotate.d/tripline /etc/tripline/policy.yaml > "$pkg/DEBIAN/conffiles"
install -m 0755 dist/deb/postinst dist/deb/prerm dist/deb/postrm "$pkg/DEBIAN/"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: tripline
Version: $TRIPLINE_VERSION
Architecture: $arch
Maintainer: tripline maintainers <tripline@example.invalid>
Installed-Size: $size
Depends: libc6
Recommends: logrotate
Suggests: rsyslog | systemd-journal-remote
Section: admin
Priority: optional
Homepage: https://github.com/tripline/tripline
Description: file integrity watcher for Linux persistence locations
 tripline keeps an approved baseline of the places that make code run at boot,
 at login, on a schedule or on a system event (cron, systemd units, init
 scripts, shell profiles, sudoers, PAM, SSH keys...) and reports every change,
 above all an executable bit set where something will run the file, with the
 process that made it. The daemon (tripline.service, not enabled on install)
 writes Elastic Common Schema events to a file, syslog or the journal.
CONTROL
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$pkg/DEBIAN/md5sums"
find "$pkg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out"
deb="$out/tripline_${TRIPLINE_VERSION}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
