package check

// DeployResult.Failure names why a deploy failed, so the server words the node's reason
// (pkg/lifecycle) without parsing the agent's Error text. Empty with Error set: the
// server infers it from the other fields.
const (
	FailChecksum = "checksum_mismatch" // the written bytes hashed to SHA256, not the expected digest
	FailImage    = "image_not_found"   // the image URL answered an error status or not at all
	// FailImageCorrupt: the image could not be read or decompressed to its end (its zstd
	// or gzip check failed, or the download broke past its retries); the disk is fine.
	FailImageCorrupt = "image_corrupt"
	FailNoDisk       = "no_disk"        // no disk matches the root device hints (Disks says why)
	FailWrite        = "disk_write"     // writing Device failed (Error names the offset)
	FailInstall      = "install_failed" // after the verified write: GPT, grow, configuration or boot path
)
