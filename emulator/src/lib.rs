//! Microsoft Graph emulator (skeleton; built out by issue 3).
