"""PowerShell completion over Click's protocol (Click has bash, zsh and fish built in, not
PowerShell): :class:`PowerShellComplete`, registered with Click on import."""

from __future__ import annotations

import os

from click.shell_completion import (
    CompletionItem,
    ShellComplete,
    add_completion_class,
    split_arg_string,
)

# PowerShell 5.1 (Windows) and 7 (any OS). The completer runs nhicard with Click's protocol:
# COMP_WORDS = the command line up to the cursor, COMP_CWORD = the word being completed, and
# _NHICARD_COMPLETE=powershell_complete; nhicard answers one "type<TAB>value<TAB>help" line
# per candidate. Files and folders are left to PowerShell's own path completion.
_SOURCE_POWERSHELL = """\
# PowerShell completion for %(prog_name)s. Load it in your profile ($PROFILE):
#   %(prog_name)s completion powershell | Out-String | Invoke-Expression
Register-ArgumentCompleter -Native -CommandName '%(prog_name)s', '%(prog_name)s.exe' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $line = $commandAst.Extent.Text
    $upTo = [Math]::Min([Math]::Max($cursorPosition - $commandAst.Extent.StartOffset, 0), $line.Length)
    $saved = @($env:COMP_WORDS, $env:COMP_CWORD, $env:%(complete_var)s, $env:PYTHONIOENCODING)
    $encoding = [Console]::OutputEncoding
    try {
        $env:COMP_WORDS = $line.Substring(0, $upTo)
        $env:COMP_CWORD = $wordToComplete
        $env:%(complete_var)s = 'powershell_complete'
        $env:PYTHONIOENCODING = 'utf-8'
        [Console]::OutputEncoding = [System.Text.Encoding]::UTF8
        $answer = @(& '%(prog_name)s' 2>$null)
    } finally {
        [Console]::OutputEncoding = $encoding
        $env:COMP_WORDS, $env:COMP_CWORD, $env:%(complete_var)s, $env:PYTHONIOENCODING = $saved
    }
    foreach ($entry in $answer) {
        $type, $value, $help = $entry -split "`t", 3
        if ($type -ne 'plain' -or -not $value) { continue }
        if (-not $help) { $help = $value }
        $text = $value
        if ($value -match '[\\s''"`$;,(){}|&<>@#]') { $text = "'" + ($value -replace "'", "''") + "'" }
        [System.Management.Automation.CompletionResult]::new($text, $value, 'ParameterValue', $help)
    }
}
"""


class PowerShellComplete(ShellComplete):
    """Shell completion for PowerShell (Click has none built in)."""

    name = "powershell"
    source_template = _SOURCE_POWERSHELL

    def get_completion_args(self) -> tuple[list[str], str]:
        words = split_arg_string(os.environ.get("COMP_WORDS", ""))
        incomplete = os.environ.get("COMP_CWORD", "")
        if incomplete:
            parts = split_arg_string(incomplete)
            incomplete = parts[0] if parts else incomplete
        args = words[1:]
        # the line up to the cursor holds the partial word too
        if incomplete and args and args[-1] == incomplete:
            args.pop()
        return args, incomplete

    def format_completion(self, item: CompletionItem) -> str:
        help_ = " ".join((item.help or "").split())  # one line, no tabs
        return f"{item.type}\t{item.value}\t{help_}"


add_completion_class(PowerShellComplete)
