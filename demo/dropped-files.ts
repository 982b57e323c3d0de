// Files dropped on the page, folders included: a Hugging Face folder arrives as one directory entry whose
// files are read recursively, so a dropped folder loads like a picked one.

/** Dropped files and folders (read recursively: a Hugging Face folder arrives as one entry). */
export function filesFromDrop(dt: DataTransfer): Promise<File[]> {
  // Entries must be taken while the drop event runs: the DataTransfer is emptied after it.
  const entries = Array.from(dt.items).map((i) => i.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => !!e);
  const files = Array.from(dt.files);
  if (entries.length === 0) return Promise.resolve(files);
  return Promise.all(entries.map(filesOfEntry)).then((lists) => lists.flat());
}

async function filesOfEntry(entry: FileSystemEntry): Promise<File[]> {
  if (entry.isFile) return [await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject))];
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const children: FileSystemEntry[] = [];
  // readEntries answers in batches (100 at a time in Chrome) until it returns none.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    children.push(...batch);
  }
  return (await Promise.all(children.map(filesOfEntry))).flat();
}
