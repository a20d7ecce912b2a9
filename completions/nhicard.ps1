# PowerShell completion for nhicard. Load it in your profile ($PROFILE):
#   nhicard completion powershell | Out-String | Invoke-Expression
Register-ArgumentCompleter -Native -CommandName 'nhicard', 'nhicard.exe' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $line = $commandAst.Extent.Text
    $upTo = [Math]::Min([Math]::Max($cursorPosition - $commandAst.Extent.StartOffset, 0), $line.Length)
    $saved = @($env:COMP_WORDS, $env:COMP_CWORD, $env:_NHICARD_COMPLETE, $env:PYTHONIOENCODING)
    $encoding = [Console]::OutputEncoding
    try {
        $env:COMP_WORDS = $line.Substring(0, $upTo)
        $env:COMP_CWORD = $wordToComplete
        $env:_NHICARD_COMPLETE = 'powershell_complete'
        $env:PYTHONIOENCODING = 'utf-8'
        [Console]::OutputEncoding = [System.Text.Encoding]::UTF8
        $answer = @(& 'nhicard' 2>$null)
    } finally {
        [Console]::OutputEncoding = $encoding
        $env:COMP_WORDS, $env:COMP_CWORD, $env:_NHICARD_COMPLETE, $env:PYTHONIOENCODING = $saved
    }
    foreach ($entry in $answer) {
        $type, $value, $help = $entry -split "`t", 3
        if ($type -ne 'plain' -or -not $value) { continue }
        if (-not $help) { $help = $value }
        $text = $value
        if ($value -match '[\s''"`$;,(){}|&<>@#]') { $text = "'" + ($value -replace "'", "''") + "'" }
        [System.Management.Automation.CompletionResult]::new($text, $value, 'ParameterValue', $help)
    }
}
