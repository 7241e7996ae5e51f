<#
.SYNOPSIS
  Installs wakeproxy as a Windows service: the binary, the configuration, the site key, the
  firewall rules and the service. Run from an elevated PowerShell, next to wakeproxy.exe.

.EXAMPLE
  .\install.ps1 -KeyFile \\fileserver\it\wakeproxy\site.key -Profile domain,private
#>
[CmdletBinding()]
param(
  # Where wakeproxy.exe goes.
  [string]$InstallDir = (Join-Path $env:ProgramFiles 'wakeproxy'),
  # Where the configuration, the key, the state and the logs live.
  [string]$DataDir = (Join-Path $env:ProgramData 'wakeproxy'),
  # The site's key, shared by every node. Without it, a new key is made (then copy it to the
  # other nodes of the site).
  [string]$KeyFile,
  # Windows Firewall profiles the rules apply to.
  [string]$Profile = 'domain,private',
  # The wakeproxy.exe to install.
  [string]$Binary = (Join-Path $PSScriptRoot 'wakeproxy.exe')
)
$ErrorActionPreference = 'Stop'

$identity = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
if (-not $identity.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
  throw 'install.ps1 must run from an elevated PowerShell (Run as administrator).'
}
if (-not (Test-Path $Binary)) { throw "wakeproxy.exe not found at ${Binary}: pass -Binary PATH." }
if (Get-Service -Name wakeproxy -ErrorAction SilentlyContinue) {
  throw 'The wakeproxy service is already installed: run uninstall.ps1 first (add -KeepConfig to keep the configuration and key).'
}

# Every step that succeeded is undone if a later one fails.
$undo = New-Object System.Collections.Generic.List[scriptblock]
function Step([string]$What, [scriptblock]$Do, [scriptblock]$Undo) {
  Write-Host "== $What"
  $global:LASTEXITCODE = 0
  & $Do
  if ($LASTEXITCODE -and $LASTEXITCODE -ne 0) { throw "$What failed (exit code $LASTEXITCODE)." }
  if ($Undo) { $undo.Insert(0, $Undo) }
}

$exe = Join-Path $InstallDir 'wakeproxy.exe'
$config = Join-Path $DataDir 'wakeproxy.toml'
$key = Join-Path $DataDir 'site.key'
try {
  Step "copy wakeproxy.exe to $InstallDir" {
    New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
    Copy-Item -Force $Binary $exe
  } { Remove-Item -Force -Recurse $InstallDir -ErrorAction SilentlyContinue }

  Step "data directory $DataDir (SYSTEM and Administrators only)" {
    New-Item -ItemType Directory -Force -Path $DataDir | Out-Null
    icacls $DataDir /inheritance:r /grant:r 'SYSTEM:(OI)(CI)F' 'Administrators:(OI)(CI)F' | Out-Null
  } $null

  if (-not (Test-Path $config)) {
    Step "default configuration $config" {
      $example = Join-Path $PSScriptRoot 'wakeproxy.example.toml'
      if (Test-Path $example) { Copy-Item $example $config }
      else { Set-Content -Path $config -Value "# wakeproxy: every key is optional; see wakeproxy.example.toml" }
    } { Remove-Item -Force $config -ErrorAction SilentlyContinue }
  }
  & $exe config check --config $config | Out-Null
  if ($LASTEXITCODE -ne 0) { throw "The configuration $config is not valid: run wakeproxy config check --config $config." }

  if ($KeyFile) {
    Step "site key from $KeyFile" { Copy-Item -Force $KeyFile $key } { Remove-Item -Force $key -ErrorAction SilentlyContinue }
  } elseif (-not (Test-Path $key)) {
    Step "new site key $key (copy it to every node of the site)" { & $exe keygen $key } { Remove-Item -Force $key -ErrorAction SilentlyContinue }
  }
  icacls $key /inheritance:r /grant:r 'SYSTEM:F' 'Administrators:F' | Out-Null

  Step "firewall rules ($Profile)" { & $exe firewall apply --profile $Profile --config $config } { & $exe firewall remove --config $config | Out-Null }
  Step 'install the wakeproxy service' { & $exe service install --config $config } { & $exe service uninstall | Out-Null }
  Step 'start the wakeproxy service' { & $exe service start } $null
  Write-Host "wakeproxy is installed and running: & '$exe' status"
} catch {
  Write-Warning "installation failed: $_"
  foreach ($u in $undo) { try { & $u } catch { } }
  Write-Warning 'everything this script did was undone.'
  exit 1
}
