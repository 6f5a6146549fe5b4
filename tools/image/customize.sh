#!/usr/bin/env bash
# mmdebstrap hooks of tools/image/build.sh; $2 is the image's root tree.
#   customize.sh early ROOT ARCH                     before the kernel is installed
#   customize.sh late ROOT ARCH DEB CONSOLE          after every package
set -euo pipefail
mode=$1 r=$2 arch=$3
say() { echo "image: $*" >&2; }

if [ "$mode" = early ]; then
	# The initramfs only needs the root disk: virtio-blk and ext4. Managed devices'
	# drivers (nvme, e1000e) must not bind before pvdma loads from the root file
	# system, and a small list keeps update-initramfs fast under qemu-user.
	mkdir -p "$r/etc/initramfs-tools/conf.d" "$r/usr/share/initramfs-tools/modules.d"
	echo "MODULES=list" >"$r/etc/initramfs-tools/conf.d/dartpass.conf"
	printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic >"$r/usr/share/initramfs-tools/modules.d/dartpass.conf"
	# The kernel's postinst makes the initramfs and initramfs-tools' trigger (udev's and
	# kmod's hooks) makes it again, each a minute of shell under qemu-user. A stub
	# stands in while the packages are installed; the late step makes it once, from the
	# finished tree, with the real one (dpkg-divert keeps dpkg's view of it right).
	chroot "$r" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs
	printf '#!/bin/sh\n# dartpass image build: replaced by the real one at its end\nexit 0\n' \
		>"$r/usr/sbin/update-initramfs"
	chmod 755 "$r/usr/sbin/update-initramfs"
	exit 0
fi

deb=$4 console=$5
kver=$(ls "$r/lib/modules" | head -n1)
[ -n "$kver" ] || { say "no kernel in the image"; exit 1; }

echo dartpass >"$r/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 dartpass\n::1 localhost ip6-localhost ip6-loopback\n' >"$r/etc/hosts"
# The root grows with the disk: systemd-repart grows the partition (a root-type GPT
# partition), x-systemd.growfs the file system. The ESP is where kernel-install puts
# each kernel, so a kernel upgrade inside the image is what boots next.
cat >"$r/etc/fstab" <<FSTAB
LABEL=dartpass-root / ext4 rw,errors=remount-ro,x-systemd.growfs 0 1
LABEL=ESP /boot/efi vfat umask=0077,nofail 0 0
FSTAB
mkdir -p "$r/etc/repart.d" "$r/boot/efi"
printf '[Partition]\nType=root\n' >"$r/etc/repart.d/50-root.conf"

mkdir -p "$r/etc/systemd/network"
printf '[Match]\nName=en*\n\n[Network]\nDHCP=yes\n' >"$r/etc/systemd/network/50-dartpass.network"
chroot "$r" systemctl enable -q systemd-networkd

# pvdma loads at boot; the managed functions' drivers load after it even when udev
# asks for them first, so their first DMA already goes through pvdma.
echo pvdma >"$r/etc/modules-load.d/pvdma.conf"
printf 'softdep %s pre: pvdma\n' nvme e1000e virtio_gpu >"$r/etc/modprobe.d/pvdma.conf"

# Users: root and dartpass, both with the password "dartpass" (docs/launcher.md).
chroot "$r" useradd -m -s /bin/bash dartpass
echo 'root:dartpass
dartpass:dartpass' | chroot "$r" chpasswd

say "[4/7] installing dartpass-pvdma-dkms: DKMS builds pvdma inside the image"
cp "$deb" "$r/tmp/pvdma-dkms.deb"
# dkms.conf's make has no -j: one job per core halves the emulated gcc's time on arm64.
chroot "$r" env MAKEFLAGS="-j$(nproc)" dpkg -i /tmp/pvdma-dkms.deb >&2
rm -f "$r/tmp/pvdma-dkms.deb"
ls "$r/lib/modules/$kver/updates/dkms/"pvdma.ko* >/dev/null 2>&1 ||
	{ say "DKMS did not install pvdma for $kver"; exit 1; }

say "[4/7] the initramfs for $kver (update-initramfs, once)"
rm "$r/usr/sbin/update-initramfs"
chroot "$r" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
chroot "$r" update-initramfs -c -k "$kver" >&2
[ -s "$r/boot/initrd.img-$kver" ] || { say "update-initramfs made no initrd for $kver"; exit 1; }

# systemd-boot on the ESP (a plain directory here, packed into the ESP image later)
# with the files and boot entry that bootctl install and kernel-install write (they
# refuse a directory that is not a mount point): the kernel's own hook
# (/etc/kernel/postinst.d/zz-systemd-boot) finds this installation on a real ESP and
# adds each upgraded kernel the same way, so a kernel upgrade is what boots next.
say "[4/7] systemd-boot and the boot entry for $kver"
efi=$r/boot/efi
case $arch in amd64) e=x64 ;; arm64) e=aa64 ;; esac
cmdline="root=LABEL=dartpass-root rw console=$console"
echo dartpass >"$r/etc/kernel/entry-token"
echo "$cmdline" >"$r/etc/kernel/cmdline"
printf 'layout=bls\n' >"$r/etc/kernel/install.conf"
mkdir -p "$efi/EFI/systemd" "$efi/EFI/BOOT" "$efi/loader/entries" "$efi/dartpass/$kver"
cp "$r/usr/lib/systemd/boot/efi/systemd-boot$e.efi" "$efi/EFI/systemd/"
cp "$r/usr/lib/systemd/boot/efi/systemd-boot$e.efi" "$efi/EFI/BOOT/BOOT${e^^}.EFI"
printf 'timeout 0\ndefault dartpass-*\n' >"$efi/loader/loader.conf"
echo type1 >"$efi/loader/entries.srel"
cp "$r/boot/vmlinuz-$kver" "$efi/dartpass/$kver/linux"
cp "$r/boot/initrd.img-$kver" "$efi/dartpass/$kver/initrd.img-$kver"
. "$r/etc/os-release"
cat >"$efi/loader/entries/dartpass-$kver.conf" <<ENTRY
title      $PRETTY_NAME
version    $kver
sort-key   dartpass
options    $cmdline
linux      /dartpass/$kver/linux
initrd     /dartpass/$kver/initrd.img-$kver
ENTRY
# build.sh's force-unsafe-io was for building only: dpkg inside a VM syncs as usual.
sed -i '/^force-unsafe-io$/d' "$r/etc/dpkg/dpkg.cfg.d/99mmdebstrap"
# Each VM made from the image gets its own machine id at first boot.
echo uninitialized >"$r/etc/machine-id"
# No package lists or downloaded packages in the image.
rm -rf "$r/var/lib/apt/lists/"* "$r/var/cache/apt/archives/"*.deb
