//! `workspace`: read-only access to the agent's workspace directory, confined to it
//! (no absolute paths, no `..`, no symlinks leading out) and bounded in file size and
//! directory length.

use super::{CallState, Outcome, bounded, failed};
use crate::plugins::bindings::responder::agentx::plugin::{types::HostError, workspace};
use crate::plugins::manifest::Capability;
use std::path::{Component as PathPart, Path, PathBuf};

const MAX_WORKSPACE_FILE_BYTES: u64 = 1 << 20;
const MAX_DIR_ENTRIES: usize = 1000;

impl CallState {
    /// `relative` inside the agent's workspace, refusing absolute paths, `..`, and
    /// symlinks that lead outside.
    async fn workspace_path(&self, relative: &str) -> Result<PathBuf, HostError> {
        self.require(Capability::Workspace)?;
        let root = self
            .grants
            .workspace
            .as_ref()
            .ok_or_else(|| HostError::Denied("this agent has no workspace".into()))?;
        let escapes = Path::new(relative)
            .components()
            .any(|part| !matches!(part, PathPart::Normal(_) | PathPart::CurDir));
        if escapes {
            return Err(HostError::Invalid(format!(
                "{relative:?} is not a relative path inside the workspace"
            )));
        }
        let root = tokio::fs::canonicalize(root).await.map_err(failed)?;
        let path = tokio::fs::canonicalize(root.join(relative))
            .await
            .map_err(|_| HostError::NotFound)?;
        if !path.starts_with(&root) {
            return Err(HostError::Denied(format!(
                "{relative:?} leads outside the workspace"
            )));
        }
        Ok(path)
    }

    async fn read_workspace_file(&self, relative: &str) -> Result<Vec<u8>, HostError> {
        let path = self.workspace_path(relative).await?;
        bounded(async move {
            let meta = tokio::fs::metadata(&path)
                .await
                .map_err(|_| HostError::NotFound)?;
            if !meta.is_file() {
                return Err(HostError::NotFound);
            }
            if meta.len() > MAX_WORKSPACE_FILE_BYTES {
                return Err(HostError::TooLarge);
            }
            tokio::fs::read(&path).await.map_err(failed)
        })
        .await
    }
}

impl workspace::Host for CallState {
    async fn read_string(&mut self, path: String) -> Outcome<String> {
        Ok(self.read_workspace_file(&path).await.and_then(|bytes| {
            String::from_utf8(bytes)
                .map_err(|_| HostError::Invalid(format!("{path:?} is not UTF-8")))
        }))
    }

    async fn read_bytes(&mut self, path: String) -> Outcome<Vec<u8>> {
        Ok(self.read_workspace_file(&path).await)
    }

    async fn list_dir(&mut self, path: String) -> Outcome<Vec<workspace::Entry>> {
        let dir = match self
            .workspace_path(if path.is_empty() { "." } else { &path })
            .await
        {
            Ok(dir) => dir,
            Err(e) => return Ok(Err(e)),
        };
        Ok(bounded(async move {
            let mut entries = Vec::new();
            let mut read = tokio::fs::read_dir(&dir)
                .await
                .map_err(|_| HostError::NotFound)?;
            while let Some(entry) = read.next_entry().await.map_err(failed)? {
                if entries.len() == MAX_DIR_ENTRIES {
                    return Err(HostError::TooLarge);
                }
                let meta = entry.metadata().await.map_err(failed)?;
                entries.push(workspace::Entry {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    is_dir: meta.is_dir(),
                    size: meta.len(),
                });
            }
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(entries)
        })
        .await)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Session;
    use super::super::testing::{Harness, call_state};
    use super::*;
    use workspace::Host;

    /// A harness granted a workspace holding `notes/hello.txt`, with a secret beside it.
    fn with_workspace() -> Harness {
        let mut h = call_state(&[Capability::Workspace], Session::None);
        let root = h.dir.path().join("ws");
        std::fs::create_dir_all(root.join("notes")).unwrap();
        std::fs::write(root.join("notes/hello.txt"), "hi").unwrap();
        std::fs::write(h.dir.path().join("secret.txt"), "no").unwrap();
        h.grants().workspace = Some(root);
        h
    }

    #[tokio::test]
    async fn reads_and_lists_inside_the_workspace() {
        let mut h = with_workspace();
        let s = &mut h.state;
        assert_eq!(
            s.read_string("notes/hello.txt".into())
                .await
                .unwrap()
                .unwrap(),
            "hi"
        );
        assert_eq!(
            s.read_bytes("./notes/hello.txt".into())
                .await
                .unwrap()
                .unwrap(),
            b"hi"
        );
        let root = s.list_dir(String::new()).await.unwrap().unwrap();
        assert_eq!((root[0].name.as_str(), root[0].is_dir), ("notes", true));
        let notes = s.list_dir("notes".into()).await.unwrap().unwrap();
        assert_eq!((notes[0].name.as_str(), notes[0].size), ("hello.txt", 2));
        assert!(matches!(
            s.read_string("missing".into()).await.unwrap(),
            Err(HostError::NotFound)
        ));
        assert!(matches!(
            s.read_string("notes".into()).await.unwrap(),
            Err(HostError::NotFound)
        ));
    }

    #[tokio::test]
    async fn nothing_outside_the_workspace_is_reachable() {
        let mut h = with_workspace();
        let secret = h.dir.path().join("secret.txt");
        let root = h.dir.path().join("ws");
        std::os::unix::fs::symlink(&secret, root.join("link")).unwrap();
        let s = &mut h.state;
        for path in [
            "../secret.txt",
            "notes/../../secret.txt",
            secret.to_str().unwrap(),
        ] {
            assert!(
                matches!(
                    s.read_string(path.into()).await.unwrap(),
                    Err(HostError::Invalid(_))
                ),
                "{path}"
            );
        }
        assert!(matches!(
            s.read_string("link".into()).await.unwrap(),
            Err(HostError::Denied(_))
        ));
        assert!(matches!(
            s.list_dir("..".into()).await.unwrap(),
            Err(HostError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn files_and_directories_are_bounded() {
        let mut h = with_workspace();
        let root = h.dir.path().join("ws");
        std::fs::write(
            root.join("big"),
            vec![b'x'; MAX_WORKSPACE_FILE_BYTES as usize + 1],
        )
        .unwrap();
        std::fs::write(root.join("binary"), [0xff, 0xfe]).unwrap();
        std::fs::create_dir(root.join("many")).unwrap();
        for i in 0..=MAX_DIR_ENTRIES {
            std::fs::write(root.join("many").join(i.to_string()), "").unwrap();
        }
        let s = &mut h.state;
        assert!(matches!(
            s.read_bytes("big".into()).await.unwrap(),
            Err(HostError::TooLarge)
        ));
        assert!(matches!(
            s.read_string("binary".into()).await.unwrap(),
            Err(HostError::Invalid(_))
        ));
        assert!(matches!(
            s.list_dir("many".into()).await.unwrap(),
            Err(HostError::TooLarge)
        ));
    }

    #[tokio::test]
    async fn denied_without_the_grant_or_without_a_workspace() {
        let mut h = call_state(&[], Session::None);
        assert!(matches!(
            h.state.read_string("a".into()).await.unwrap(),
            Err(HostError::Denied(_))
        ));
        assert!(h.logged_denial());
        let mut h = call_state(&[Capability::Workspace], Session::None);
        assert!(matches!(
            h.state.list_dir(String::new()).await.unwrap(),
            Err(HostError::Denied(_))
        ));
    }
}
