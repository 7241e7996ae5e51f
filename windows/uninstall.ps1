<#
.SYNOPSIS
  Removes the wakeproxy service, its firewall rules and its files. -KeepConfig keeps the
  configuration, the key and the state in %ProgramData%\wakeproxy.
#>
[CmdletBinding()]
param(
  [string]$InstallDir = (Join-Path $env:ProgramFiles 'wakeproxy'),
  [string]$DataDir = (Join-Path $env:ProgramData 'wakeproxy'),
  [switch]$KeepConfig
)
$ErrorActionPreference = 'Stop'
$identity = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
if (-not $identity.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
  throw 'uninstall.ps1 must run from an elevated PowerShell (Run as administrator).'
}
$exe = Join-Path $InstallDir 'wakeproxy.exe'
$config = Join-Path $DataDir 'wakeproxy.toml'
if (Test-Path $exe) {
  if (Get-Service -Name wakeproxy -ErrorAction SilentlyContinue) {
    & $exe service uninstall
    if ($LASTEXITCODE -ne 0) { throw 'Could not remove the wakeproxy service (see above).' }
  }
  & $exe firewall remove --config $config
  if ($LASTEXITCODE -ne 0) { Write-Warning 'Could not remove the firewall rules: remove the rules named "wakeproxy ..." by hand.' }
} else {
  Write-Warning "$exe not found: removing the service with sc.exe"
  sc.exe stop wakeproxy | Out-Null
  sc.exe delete wakeproxy | Out-Null
  # What `wakeproxy service uninstall` would also have removed: the Event Log source.
  Remove-Item -Recurse -Path 'HKLM:\SYSTEM\CurrentControlSet\Services\EventLog\Application\wakeproxy' -ErrorAction SilentlyContinue
}
Remove-Item -Force -Recurse $InstallDir -ErrorAction SilentlyContinue
if (-not $KeepConfig) { Remove-Item -Force -Recurse $DataDir -ErrorAction SilentlyContinue }
Write-Host 'wakeproxy is removed.'
